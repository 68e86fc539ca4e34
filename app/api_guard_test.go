package app_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

type route struct{ method, path string }

// adminRoutes are the local API's routes, one of each kind.
var adminRoutes = []route{
	{"GET", "/api/health"}, {"GET", "/api/stats"}, {"GET", "/api/webhook-logs"},
	{"GET", "/api/webhook-logs/1"}, {"POST", "/api/webhook-logs/1/replay"},
	{"POST", "/api/webhook-logs/replay?status=failed"}, {"GET", "/api/customers"},
	{"GET", "/api/customers/1"}, {"GET", "/api/customers/1/history"}, {"GET", "/api/changes"},
	{"GET", "/api/webhooks"}, {"POST", "/api/webhooks"}, {"DELETE", "/api/webhooks/1"},
	{"POST", "/api/webhooks/register"}, {"POST", "/api/sync/customers"}, {"GET", "/api/sync"},
	{"GET", "/api/forward"}, {"POST", "/api/forward/office/resend"},
	{"GET", "/api/backup"}, {"GET", "/metrics"},
}

// TestLocalToken checks that with admin.token set every route needs it.
func TestLocalToken(t *testing.T) {
	// A burst large enough for every wrong header below: the throttle has
	// its own test (TestTokenThrottle).
	fx := newFixture(t, app.LocalConfig{Token: "let-me-in", AuthBurst: 1000})
	fx.seed(t)
	for _, r := range append(adminRoutes, route{"GET", "/api/unknown"}) {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, auth := range []string{"", "Bearer wrong", "Bearer let-me-in-too", "Basic let-me-in", "let-me-in", "Bearer"} {
				req, _ := http.NewRequest(r.method, r.path, nil)
				req.Host = "127.0.0.1:8787"
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := fx.local.Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 401 || string(data) != `{"error":"missing or invalid token"}` {
					t.Errorf("Authorization %q: %d %s, want 401", auth, resp.StatusCode, data)
				}
			}
			code, data := do(t, fx.local, r.method, r.path, "let-me-in", nil)
			if code == 401 {
				t.Errorf("with the token: %d %s", code, data)
			}
		})
	}
}

// TestIsolation serves both apps on real listeners: no admin route answers
// on the receiver, and no receiver path on the local API.
func TestIsolation(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	fx.seed(t)
	publicURL, localURL := serve(t, fx.public), serve(t, fx.local)
	for _, r := range adminRoutes {
		req, _ := http.NewRequest(r.method, publicURL+r.path, strings.NewReader(`{"endpoint":"customers","secret":"x"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("receiver: %s %s = %d %s, want 404", r.method, r.path, resp.StatusCode, data)
		}
	}
	before, _, _ := fx.db.FindLogEntries(context.Background(), store.LogFilter{})
	for _, ep := range fx.recv.Endpoints() {
		body := clientBody("iso-"+ep.Name, "client.updated", map[string]any{"id": 9, "name": "Iso"})
		for _, method := range []string{"POST", "GET"} {
			req, _ := http.NewRequest(method, localURL+ep.Path, bytes.NewReader(body))
			req.Header.Set("Robaws-Signature", intake.Sign(testSecret, fx.now.Unix(), body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("local API: %s %s = %d %s, want 404", method, ep.Path, resp.StatusCode, data)
			}
		}
	}
	after, _, _ := fx.db.FindLogEntries(context.Background(), store.LogFilter{})
	if len(after) != len(before) {
		t.Errorf("log grew from %d to %d entries through the local API", len(before), len(after))
	}
}

// TestLocalRefusesWebPages checks the CSRF and DNS-rebinding guard: a
// browser's cross-origin request, or a Host that is not this daemon's (an
// IP address, localhost, this machine's name or an admin.hosts name), is
// refused before any route runs, with or without a token.
func TestLocalRefusesWebPages(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	open := app.NewLocal(db, r, app.LocalConfig{})
	withToken := app.NewLocal(db, r, app.LocalConfig{Token: "tok", Hosts: []string{"edge.office.lan"}})
	tests := []struct {
		name     string
		f        *fiber.App
		host     string
		header   [2]string
		wantCode int
	}{
		{"loopback host", open, "127.0.0.1:8787", [2]string{}, 200},
		{"localhost", open, "localhost:8787", [2]string{}, 200},
		{"ipv6 loopback", open, "[::1]:8787", [2]string{}, 200},
		{"rebound host name", open, "evil.example:8787", [2]string{}, 403},
		{"origin header", open, "127.0.0.1:8787", [2]string{"Origin", "https://evil.example"}, 403},
		{"cross-site fetch", open, "127.0.0.1:8787", [2]string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"token: admin.hosts name", withToken, "EDGE.office.lan:8787", [2]string{"Authorization", "Bearer tok"}, 200},
		{"token: LAN address", withToken, "192.168.1.20:8787", [2]string{"Authorization", "Bearer tok"}, 200},
		{"token: rebound host name", withToken, "evil.example:8787", [2]string{"Authorization", "Bearer tok"}, 403},
		{"LAN address", open, "192.168.1.20:8787", [2]string{}, 200},
		{"no host", open, "", [2]string{}, 403},
		{"token: still no origin", withToken, "127.0.0.1:8787", [2]string{"Origin", "http://127.0.0.1:8787"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "/api/webhooks", strings.NewReader(`{"endpoint":"customers","secret":"csrf-test-secret"}`))
			req.Host = tt.host
			req.Header.Set("Content-Type", "text/plain")
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			if tt.wantCode == 200 {
				req, _ = http.NewRequest("GET", "/api/health", nil)
				req.Host = tt.host
				if tt.header[0] != "" {
					req.Header.Set(tt.header[0], tt.header[1])
				}
			}
			resp, err := tt.f.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.wantCode)
			}
		})
	}
	if list, _ := db.FindSecrets(context.Background()); len(list) != 0 {
		t.Fatalf("a refused request stored %d secrets", len(list))
	}
}

// TestRebindingThroughForwardedHost is the issue-8 attack on a real
// listener: a page on attacker.example (resolving to 127.0.0.1) asks for the
// backup with X-Forwarded-Host: localhost. Only the raw Host header counts.
func TestRebindingThroughForwardedHost(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	addr := strings.TrimPrefix(base, "http://")
	tests := []struct {
		name     string
		headers  map[string]string
		wantCode int
	}{
		{"forwarded host localhost", map[string]string{"Host": "attacker.example:8787", "X-Forwarded-Host": "localhost", "Sec-Fetch-Site": "same-origin"}, 403},
		{"forwarded host and proto", map[string]string{"Host": "attacker.example", "X-Forwarded-Host": "127.0.0.1:8787", "X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"}, 403},
		{"forwarded header", map[string]string{"Host": "attacker.example:8787", "Forwarded": "host=localhost"}, 403},
		{"real loopback host", map[string]string{"Host": addr}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var req strings.Builder
			req.WriteString("GET /api/backup HTTP/1.1\r\n")
			for k, v := range tt.headers {
				req.WriteString(k + ": " + v + "\r\n")
			}
			req.WriteString("Connection: close\r\n\r\n")
			if _, err := io.WriteString(conn, req.String()); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body[:min(len(body), 80)], tt.wantCode)
			}
			if tt.wantCode == 403 && bytes.Contains(body, []byte("bolt")) {
				t.Fatal("a refused request got database bytes")
			}
		})
	}
}

// TestWrongMethod on a real listener: a route that exists with another
// method answers 405 with an Allow header and the JSON error, on the API's
// routes and on the console's; a path with no route stays 404.
func TestWrongMethod(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	c := clientFrom("127.0.0.1")
	for _, token := range []string{"", guardToken} {
		base := serve(t, app.NewLocal(db, r, app.LocalConfig{Token: token}))
		tests := []struct{ method, path, allow string }{
			{"PUT", "/api/customers", "GET, HEAD"},
			{"PATCH", "/api/customers/C-1", "GET, HEAD"},
			{"PUT", "/api/webhook-logs/1", "GET, HEAD"},
			{"PATCH", "/api/webhooks/1", "DELETE"},
			{"PUT", "/api/webhooks", "GET, HEAD, POST"},
			{"DELETE", "/api/health", "GET, HEAD"},
			{"PUT", "/metrics", "GET, HEAD"},
			{"PUT", "/deliveries", "GET, HEAD"},
			{"PATCH", "/deliveries/1/replay", "POST"},
			{"PUT", "/webhooks", "GET, HEAD, POST"},
			{"PATCH", "/sync", "GET, HEAD, POST"},
			{"PUT", "/login", "GET, HEAD, POST"},
		}
		for _, tt := range tests {
			resp, body := wire(t, c, tt.method, base+tt.path, nil, "Authorization", "Bearer "+token)
			if resp.StatusCode != 405 || body != `{"error":"method not allowed"}` || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("token %v: %s %s = %d %s %q, want 405 with the JSON error", token != "", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("token %v: %s %s: Allow %q, want %q", token != "", tt.method, tt.path, got, tt.allow)
			}
		}
		if resp, body := wire(t, c, "PUT", base+"/api/nothing", nil, "Authorization", "Bearer "+token); resp.StatusCode != 404 || body != `{"error":"not found"}` || resp.Header.Get("Allow") != "" {
			t.Errorf("PUT /api/nothing = %d %s, want 404", resp.StatusCode, body)
		}
	}
}

// TestListCursorsChecked: a cursor that no list handed out is a 400 naming
// it, on every list of the API and the console's paged pages.
func TestListCursorsChecked(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	fx.seed(t)
	c := clientFrom("127.0.0.1")
	base := serve(t, fx.local)
	for _, p := range []string{"/api/customers", "/api/webhook-logs", "/api/changes", "/api/customers/218/history"} {
		for _, cursor := range []string{"zzzz", "bogus!", "0"} {
			resp, body := wire(t, c, "GET", base+p+"?cursor="+url.QueryEscape(cursor), nil)
			if resp.StatusCode != 400 || !strings.Contains(body, "cursor") {
				t.Errorf("GET %s?cursor=%s = %d %s, want 400 naming the cursor", p, cursor, resp.StatusCode, body)
			}
		}
	}
	for _, p := range []string{"/customers", "/deliveries", "/changes"} {
		if resp, _ := wire(t, c, "GET", base+p+"?cursor=zzzz", nil); resp.StatusCode != 400 {
			t.Errorf("GET %s?cursor=zzzz = %d, want a 400 page", p, resp.StatusCode)
		}
	}
	// A cursor the list handed out still works.
	resp, body := wire(t, c, "GET", base+"/api/customers?limit=1", nil)
	page := decode[app.Page[*store.Customer]](t, []byte(body))
	if resp.StatusCode != 200 || page.NextCursor == nil {
		t.Fatalf("first page = %d, next %v", resp.StatusCode, page.NextCursor)
	}
	if resp, body := wire(t, c, "GET", base+"/api/customers?limit=1&cursor="+*page.NextCursor, nil); resp.StatusCode != 200 {
		t.Fatalf("next page = %d %s", resp.StatusCode, body)
	}
}
