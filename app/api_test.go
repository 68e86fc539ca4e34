package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// fixture is a store with a receiver, the public app and the local API over
// it, and a clock fixed a little before the real one (so /api/stats counts
// the deliveries in last_24h).
type fixture struct {
	db     *store.DB
	recv   *intake.Receiver
	public *fiber.App
	local  *fiber.App
	now    time.Time
	token  string
	ids    map[string]uint64 // log ids by name
}

func newFixture(tb testing.TB, cfg app.LocalConfig) *fixture {
	tb.Helper()
	db := MustOpenDB(tb, "")
	now := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	// The daemon's wiring: the receiver reports deliveries to the metrics
	// that the local API serves.
	cfg.Metrics = app.NewMetrics()
	recv := MustReceiver(tb, db, now, func(c *intake.Config) { c.OnDelivery = cfg.Metrics.Delivery })
	cfg.Version = "test"
	return &fixture{db: db, recv: recv, public: app.NewPublic(recv, app.PublicConfig{}),
		local: app.NewLocal(db, recv, cfg), now: now, token: cfg.Token, ids: map[string]uint64{}}
}

// clientBody is a delivery envelope around a client object.
func clientBody(eventID, event string, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": eventID, "event": event, "data": data})
	return b
}

func role(name string) map[string]any {
	return map[string]any{"Role": map[string]any{"type": "SELECT", "stringValue": name}}
}

// deliver posts body signed with secret to the customers endpoint and
// records its log id under name.
func (fx *fixture) deliver(tb testing.TB, name, secret string, body []byte) answer {
	tb.Helper()
	a := post(tb, fx.public, "POST", customersPath, body, intake.Sign(secret, fx.now.Unix(), body))
	if a.LogID == 0 {
		// Rejected answers carry no log id; find the newest entry.
		evs, _, err := fx.db.FindLogEntries(context.Background(), store.LogFilter{Limit: 1})
		if err != nil || len(evs) == 0 {
			tb.Fatalf("no log entry for %s: %v", name, err)
		}
		a.LogID = evs[0].ID
	}
	fx.ids[name] = a.LogID
	return a
}

// seed stores one delivery of every kind.
func (fx *fixture) seed(tb testing.TB) {
	tb.Helper()
	fx.deliver(tb, "alice", testSecret, clientBody("ev-1", "client.created", map[string]any{
		"id": 1, "name": "Alice Bakery", "email": "Alice@Example.com", "address": map[string]any{"city": "Gent"},
		"extraFields": role("admin"), "updatedAt": "2026-11-01T10:00:00Z"}))
	fx.deliver(tb, "bob", testSecret, clientBody("ev-2", "client.updated", map[string]any{
		"id": "2", "name": "Bob Builders", "isActive": false, "extraFields": map[string]any{"PRICING": map[string]any{"stringValue": "Tier B"}}}))
	fx.deliver(tb, "failed", testSecret, clientBody("ev-3", "client.updated", nil))
	fx.deliver(tb, "ignored", testSecret, clientBody("ev-4", "client.deleted", map[string]any{"id": 1}))
	fx.deliver(tb, "rejected", "wrong-secret", clientBody("ev-5", "client.updated", map[string]any{"id": 3, "name": "Mallory"}))
	fx.deliver(tb, "alice2", testSecret, clientBody("ev-6", "client.updated", map[string]any{
		"id": 1, "name": "Alice Bakery", "email": "orders@example.com", "address": map[string]any{"city": "Gent"},
		"extraFields": role("admin"), "updatedAt": "2026-11-02T10:00:00Z"}))
	fx.deliver(tb, "notjson", testSecret, []byte("this is not json"))
}

// do sends one request to f and returns the status and body.
func do(tb testing.TB, f *fiber.App, method, path, token string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			data, _ := json.Marshal(b)
			rd = bytes.NewReader(data)
		}
	}
	req, _ := http.NewRequest(method, path, rd)
	req.Host = "127.0.0.1:8787"
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func decode[T any](tb testing.TB, data []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("decode %q: %v", data, err)
	}
	return v
}

func logIDs(p app.Page[*store.LogEntry]) []uint64 {
	var ids []uint64
	for _, e := range p.Items {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestLocalRoutes(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	fx.seed(t)
	id := func(name string) string { return fmt.Sprint(fx.ids[name]) }
	future := url.QueryEscape(fx.now.Add(time.Hour).Format(time.RFC3339))
	past := url.QueryEscape(fx.now.Add(-time.Hour).Format(time.RFC3339))
	all := []uint64{fx.ids["notjson"], fx.ids["alice2"], fx.ids["rejected"], fx.ids["ignored"], fx.ids["failed"], fx.ids["bob"], fx.ids["alice"]}

	logs := func(want ...uint64) func(t *testing.T, body []byte) {
		return func(t *testing.T, body []byte) {
			p := decode[app.Page[*store.LogEntry]](t, body)
			if diff := cmp.Diff(want, logIDs(p)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if p.NextCursor != nil {
				t.Errorf("next_cursor = %q, want null", *p.NextCursor)
			}
		}
	}
	customers := func(want ...string) func(t *testing.T, body []byte) {
		return func(t *testing.T, body []byte) {
			p := decode[app.Page[*store.Customer]](t, body)
			var got []string
			for _, c := range p.Items {
				got = append(got, c.ID)
				if c.Raw != nil {
					t.Errorf("customer %s: raw in a list", c.ID)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("customers (-want +got):\n%s", diff)
			}
		}
	}
	history := func(want ...string) func(t *testing.T, body []byte) {
		return func(t *testing.T, body []byte) {
			p := decode[app.Page[*store.HistoryEntry]](t, body)
			var got []string
			for _, h := range p.Items {
				got = append(got, fmt.Sprintf("%s:%d", h.CustomerID, *h.LogID))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		}
	}
	hist := func(name, customer string) string { return customer + ":" + id(name) }

	tests := []struct {
		name     string
		method   string
		path     string
		body     any
		wantCode int
		wantErr  string
		check    func(t *testing.T, body []byte)
	}{
		{"health", "GET", "/api/health", nil, 200, "", func(t *testing.T, body []byte) {
			h := decode[app.Health](t, body)
			// The fixture's "nosecret" endpoint has no secret: that is the one problem.
			if h.Status != "degraded" || len(h.Problems) != 1 || h.Problems[0].Code != app.ProblemNoActiveSecret || !strings.Contains(h.Problems[0].Message, "nosecret") || h.Version != "test" || h.Tunnel.Status != "disabled" || h.Tunnel.PublicURL != nil || h.DB.Path != fx.db.Path() || h.DB.SizeBytes <= 0 {
				t.Errorf("health = %+v", h)
			}
		}},
		{"health unknown parameter", "GET", "/api/health?verbose=1", nil, 400, `unknown parameter "verbose"`, nil},
		{"stats", "GET", "/api/stats", nil, 200, "", func(t *testing.T, body []byte) {
			s := decode[app.Stats](t, body)
			wantStatus := map[string]int64{"processed": 3, "failed": 2, "ignored": 1, "stale": 0, "rejected": 1}
			if diff := cmp.Diff(wantStatus, s.Deliveries.ByStatus); diff != "" {
				t.Errorf("by_status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantStatus, s.Deliveries.Last24h.ByStatus); diff != "" {
				t.Errorf("last_24h (-want +got):\n%s", diff)
			}
			if s.Deliveries.Total != 7 || s.Deliveries.Last24h.Total != 7 || s.Deliveries.ByEvent["client.updated"] != 3 {
				t.Errorf("deliveries = %+v", s.Deliveries)
			}
			if s.Deliveries.LastReceivedAt == nil || !s.Deliveries.LastReceivedAt.Equal(fx.now) {
				t.Errorf("last_received_at = %v, want %v", s.Deliveries.LastReceivedAt, fx.now)
			}
			if diff := cmp.Diff(app.CustomerStats{Total: 2, ByRole: map[string]int64{"ADMIN": 1, "none": 1}}, s.Customers); diff != "" {
				t.Errorf("customers (-want +got):\n%s", diff)
			}
		}},

		{"logs", "GET", "/api/webhook-logs", nil, 200, "", logs(all...)},
		{"logs by status", "GET", "/api/webhook-logs?status=failed", nil, 200, "", logs(fx.ids["notjson"], fx.ids["failed"])},
		{"logs by event", "GET", "/api/webhook-logs?event=client.created", nil, 200, "", logs(fx.ids["alice"])},
		{"logs by client", "GET", "/api/webhook-logs?client_id=1", nil, 200, "", logs(fx.ids["alice2"], fx.ids["ignored"], fx.ids["alice"])},
		{"logs by client and status", "GET", "/api/webhook-logs?client_id=1&status=processed", nil, 200, "", logs(fx.ids["alice2"], fx.ids["alice"])},
		{"logs by endpoint", "GET", "/api/webhook-logs?endpoint=articles", nil, 200, "", logs()},
		{"logs since past", "GET", "/api/webhook-logs?since=" + past, nil, 200, "", logs(all...)},
		{"logs since future", "GET", "/api/webhook-logs?since=" + future, nil, 200, "", logs()},
		{"logs until past", "GET", "/api/webhook-logs?until=" + past, nil, 200, "", logs()},
		{"logs limit", "GET", "/api/webhook-logs?limit=2", nil, 200, "", func(t *testing.T, body []byte) {
			p := decode[app.Page[*store.LogEntry]](t, body)
			if len(p.Items) != 2 || p.NextCursor == nil {
				t.Errorf("got %d items, cursor %v; want 2 and a cursor", len(p.Items), p.NextCursor)
			}
		}},
		{"logs bad status", "GET", "/api/webhook-logs?status=done", nil, 400, "invalid status: want processed, failed, ignored, stale or rejected", nil},
		{"logs bad since", "GET", "/api/webhook-logs?since=yesterday", nil, 400, "invalid since: want RFC 3339, such as 2026-11-30T08:00:00Z", nil},
		{"logs bad until", "GET", "/api/webhook-logs?until=2026-13-01", nil, 400, "invalid until: want RFC 3339, such as 2026-11-30T08:00:00Z", nil},
		{"logs limit 0", "GET", "/api/webhook-logs?limit=0", nil, 400, "invalid limit: must be between 1 and 1000", nil},
		{"logs limit 1001", "GET", "/api/webhook-logs?limit=1001", nil, 400, "invalid limit: must be between 1 and 1000", nil},
		{"logs limit text", "GET", "/api/webhook-logs?limit=ten", nil, 400, "invalid limit: must be between 1 and 1000", nil},
		{"logs bad cursor", "GET", "/api/webhook-logs?cursor=abc", nil, 400, "invalid cursor", nil},
		{"logs unknown parameter", "GET", "/api/webhook-logs?client=1", nil, 400, `unknown parameter "client"`, nil},
		{"logs repeated parameter", "GET", "/api/webhook-logs?status=failed&status=stale", nil, 400, "invalid status: given more than once", nil},

		{"log entry", "GET", "/api/webhook-logs/" + id("alice"), nil, 200, "", func(t *testing.T, body []byte) {
			e := decode[app.LogEntryDetail](t, body)
			if e.ID != fx.ids["alice"] || e.Status != "processed" || e.EventID != "ev-1" || e.ClientID != "1" || e.Deliveries != 1 || e.SecretID != "config:customers#2" {
				t.Errorf("entry = %+v", e.LogEntry)
			}
			if !json.Valid(e.Payload) || !bytes.Contains(e.Payload, []byte(`"Alice Bakery"`)) || e.PayloadText != nil {
				t.Errorf("payload = %s, payload_text = %v", e.Payload, e.PayloadText)
			}
		}},
		{"log entry rejected", "GET", "/api/webhook-logs/" + id("rejected"), nil, 200, "", func(t *testing.T, body []byte) {
			e := decode[app.LogEntryDetail](t, body)
			if e.Status != "rejected" || e.Error != "signature mismatch" || e.Payload == nil {
				t.Errorf("entry = %+v, payload %s", e.LogEntry, e.Payload)
			}
		}},
		{"log entry not JSON", "GET", "/api/webhook-logs/" + id("notjson"), nil, 200, "", func(t *testing.T, body []byte) {
			e := decode[app.LogEntryDetail](t, body)
			if e.Payload != nil || e.PayloadText == nil || *e.PayloadText != "this is not json" {
				t.Errorf("payload = %s, payload_text = %v", e.Payload, e.PayloadText)
			}
			if bytes.Contains(body, []byte(`"payload":`)) {
				t.Errorf("body has a payload key: %s", body)
			}
		}},
		{"log entry unknown", "GET", "/api/webhook-logs/9999", nil, 404, `log entry "9999" not found`, nil},
		{"log entry bad id", "GET", "/api/webhook-logs/abc", nil, 400, "invalid id: want a log entry number", nil},
		{"log entry unknown parameter", "GET", "/api/webhook-logs/" + id("alice") + "?pretty=1", nil, 400, `unknown parameter "pretty"`, nil},

		{"customers", "GET", "/api/customers", nil, 200, "", customers("1", "2")},
		{"customers q name", "GET", "/api/customers?q=BOB", nil, 200, "", customers("2")},
		{"customers q email", "GET", "/api/customers?q=orders@", nil, 200, "", customers("1")},
		{"customers q city", "GET", "/api/customers?q=gent", nil, 200, "", customers("1")},
		{"customers q none", "GET", "/api/customers?q=zzz", nil, 200, "", customers()},
		{"customers role", "GET", "/api/customers?role=admin", nil, 200, "", customers("1")},
		{"customers pricing", "GET", "/api/customers?pricing_code=B", nil, 200, "", customers("2")},
		{"customers inactive", "GET", "/api/customers?active=false", nil, 200, "", customers("2")},
		{"customers active", "GET", "/api/customers?active=true", nil, 200, "", customers("1")},
		{"customers bad active", "GET", "/api/customers?active=maybe", nil, 400, "invalid active: want true or false", nil},
		{"customers bad pricing", "GET", "/api/customers?pricing_code=Z", nil, 400, "invalid pricing_code: want A, B or C", nil},
		{"customers bad limit", "GET", "/api/customers?limit=-1", nil, 400, "invalid limit: must be between 1 and 1000", nil},
		{"customers unknown parameter", "GET", "/api/customers?name=Bob", nil, 400, `unknown parameter "name"`, nil},
		{"customer", "GET", "/api/customers/1", nil, 200, "", func(t *testing.T, body []byte) {
			c := decode[store.Customer](t, body)
			if c.ID != "1" || c.Name != "Alice Bakery" || *c.Email != "orders@example.com" || *c.Role != "ADMIN" || c.Source != "webhook" || !bytes.Contains(c.Raw, []byte("extraFields")) {
				t.Errorf("customer = %+v", c)
			}
		}},
		{"customer unknown", "GET", "/api/customers/77", nil, 404, `customer "77" not found`, nil},
		{"history", "GET", "/api/customers/1/history", nil, 200, "", history(hist("alice2", "1"), hist("alice", "1"))},
		{"history limit", "GET", "/api/customers/1/history?limit=1", nil, 200, "", func(t *testing.T, body []byte) {
			p := decode[app.Page[*store.HistoryEntry]](t, body)
			if len(p.Items) != 1 || p.NextCursor == nil {
				t.Errorf("got %d items, cursor %v", len(p.Items), p.NextCursor)
			}
		}},
		{"history unknown customer", "GET", "/api/customers/77/history", nil, 404, `customer "77" not found`, nil},
		{"history bad limit", "GET", "/api/customers/1/history?limit=5000", nil, 400, "invalid limit: must be between 1 and 1000", nil},
		{"changes", "GET", "/api/changes", nil, 200, "", history(hist("alice2", "1"), hist("bob", "2"), hist("alice", "1"))},
		{"changes by field", "GET", "/api/changes?field=email", nil, 200, "", history(hist("alice2", "1"), hist("alice", "1"))},
		{"changes by role", "GET", "/api/changes?field=role&since=" + past, nil, 200, "", history(hist("alice", "1"))},
		{"changes by address field", "GET", "/api/changes?field=address.city", nil, 200, "", history(hist("alice", "1"))},
		{"changes since future", "GET", "/api/changes?since=" + future, nil, 200, "", history()},
		{"changes bad field", "GET", "/api/changes?field=colour", nil, 400, "invalid field: want name, email, phone", nil},
		{"changes bad since", "GET", "/api/changes?since=1d", nil, 400, "invalid since: want RFC 3339", nil},

		{"webhooks", "GET", "/api/webhooks", nil, 200, "", func(t *testing.T, body []byte) {
			p := decode[app.Page[*app.Webhook]](t, body)
			var got []string
			for _, w := range p.Items {
				got = append(got, fmt.Sprintf("%s %s %s %v %s", w.ID, w.Endpoint, w.Source, w.Active, w.SecretHint))
			}
			want := []string{"config:customers#1 customers config true …cret", "config:customers#2 customers config true …-key", "config:articles#1 articles config true …cret"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("webhooks (-want +got):\n%s", diff)
			}
			if bytes.Contains(body, []byte(testSecret)) || bytes.Contains(body, []byte("old-secret")) {
				t.Errorf("a secret leaked: %s", body)
			}
		}},
		{"webhook add unknown endpoint", "POST", "/api/webhooks", app.CreateWebhookRequest{Endpoint: "orders", Secret: "x-secret"}, 400, `invalid endpoint: unknown endpoint "orders"`, nil},
		{"webhook add no endpoint", "POST", "/api/webhooks", app.CreateWebhookRequest{Secret: "x-secret"}, 400, "invalid endpoint: required", nil},
		{"webhook add no secret", "POST", "/api/webhooks", app.CreateWebhookRequest{Endpoint: "customers"}, 400, "invalid secret: required", nil},
		{"webhook add 1-character secret", "POST", "/api/webhooks", app.CreateWebhookRequest{Endpoint: "customers", Secret: "k"}, 400, "invalid secret: 1 characters, want at least 16 (Robaws' secrets are UUIDs)", nil},
		{"webhook add 15-character secret", "POST", "/api/webhooks", app.CreateWebhookRequest{Endpoint: "customers", Secret: "0123456789abcde"}, 400, "invalid secret: 15 characters, want at least 16 (Robaws' secrets are UUIDs)", nil},
		{"webhook add unknown field", "POST", "/api/webhooks", `{"endpoint":"customers","secret":"s","events":[]}`, 400, `unknown field "events"`, nil},
		{"webhook add bad JSON", "POST", "/api/webhooks", `{"endpoint":`, 400, "invalid body", nil},
		{"webhook add wrong type", "POST", "/api/webhooks", `{"endpoint":"customers","secret":42}`, 400, "invalid secret: want a string", nil},
		{"webhook add config secret", "POST", "/api/webhooks", app.CreateWebhookRequest{Endpoint: "customers", Secret: testSecret}, 409, "secret is already in the config file as config:customers#2", nil},
		{"webhook delete config", "DELETE", "/api/webhooks/" + url.PathEscape("config:customers#1"), nil, 400, "invalid id: config:customers#1 is a config secret", nil},
		{"webhook delete unknown", "DELETE", "/api/webhooks/99", nil, 404, `webhook secret "99" not found`, nil},

		{"unknown route", "GET", "/api/nothing", nil, 404, "not found", nil},
		{"wrong method", "PUT", "/api/health", nil, 405, "method not allowed", nil},
		{"receiver path", "POST", customersPath, nil, 404, "not found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, fx.local, tt.method, tt.path, "", tt.body)
			if code != tt.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.wantCode)
			}
			if tt.wantErr != "" {
				e := decode[struct{ Error string }](t, body)
				if !strings.HasPrefix(e.Error, tt.wantErr) {
					t.Fatalf("error = %q, want prefix %q", e.Error, tt.wantErr)
				}
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

// TestLocalWebhooks adds, lists and deactivates a stored secret, and checks
// that the receiver uses it at once.
func TestLocalWebhooks(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	body := clientBody("ev-new", "client.updated", map[string]any{"id": 5, "name": "Eve"})

	code, data := do(t, fx.local, "POST", "/api/webhooks", "", app.CreateWebhookRequest{Endpoint: "customers", Secret: " added-secret-9876\n", WebhookID: "wh-1", URL: "https://x.example/hook"})
	if code != 201 {
		t.Fatalf("create = %d %s, want 201", code, data)
	}
	w := decode[app.Webhook](t, data)
	// A pasted secret is "registered" (SPEC §4's word) but added by hand:
	// added_by tells it from one Robaws gave at a registration.
	if w.ID != "1" || w.Source != "registered" || w.AddedBy == nil || *w.AddedBy != app.AddedByHand || !w.Active || w.SecretHint != "…9876" || *w.WebhookID != "wh-1" || *w.URL != "https://x.example/hook" || w.CreatedAt == nil ||
		!cmp.Equal(w.Events, []string{"client.created", "client.updated"}) {
		t.Errorf("created = %+v", w)
	}
	if bytes.Contains(data, []byte("added-secret")) {
		t.Errorf("secret in answer: %s", data)
	}
	if a := fx.deliver(t, "new", "added-secret-9876", body); a.Code != 200 || a.Status != "processed" {
		t.Fatalf("delivery signed with the added secret = %+v, want processed", a)
	}
	if code, data := do(t, fx.local, "POST", "/api/webhooks", "", app.CreateWebhookRequest{Endpoint: "customers", Secret: "added-secret-9876"}); code != 409 {
		t.Errorf("same secret again = %d %s, want 409", code, data)
	}

	code, data = do(t, fx.local, "DELETE", "/api/webhooks/1", "", nil)
	if w := decode[app.Webhook](t, data); code != 200 || w.Active {
		t.Fatalf("delete = %d %s, want 200 inactive", code, data)
	}
	list := decode[app.Page[*app.Webhook]](t, second(do(t, fx.local, "GET", "/api/webhooks", "", nil)))
	if last := list.Items[len(list.Items)-1]; last.ID != "1" || last.Active || last.AddedBy == nil || *last.AddedBy != "hand" {
		t.Errorf("listed = %+v, want 1 inactive, added by hand", last)
	}
	for _, w := range list.Items {
		if w.Source == app.SourceConfig && (w.AddedBy == nil || *w.AddedBy != "config") {
			t.Errorf("config secret listed as %+v, want added_by config", w)
		}
	}
	body2 := clientBody("ev-new-2", "client.updated", map[string]any{"id": 5, "name": "Eve"})
	if a := post(t, fx.public, "POST", customersPath, body2, intake.Sign("added-secret-9876", fx.now.Unix(), body2)); a.Code != 401 {
		t.Errorf("delivery with the deactivated secret = %+v, want 401", a)
	}
}

func second(_ int, b []byte) []byte { return b }

// TestLocalToken checks that with admin.token set every route needs it.
func TestLocalToken(t *testing.T) {
	// A burst large enough for every wrong header below: the throttle has
	// its own test (TestTokenThrottle).
	fx := newFixture(t, app.LocalConfig{Token: "let-me-in", AuthBurst: 1000})
	fx.seed(t)
	routes := []struct{ method, path string }{
		{"GET", "/api/health"}, {"GET", "/api/stats"}, {"GET", "/api/webhook-logs"},
		{"GET", "/api/webhook-logs/1"}, {"POST", "/api/webhook-logs/1/replay"},
		{"POST", "/api/webhook-logs/replay?status=failed"}, {"GET", "/api/customers"},
		{"GET", "/api/customers/1"}, {"GET", "/api/customers/1/history"}, {"GET", "/api/changes"},
		{"GET", "/api/webhooks"}, {"POST", "/api/webhooks"}, {"DELETE", "/api/webhooks/1"},
		{"GET", "/api/backup"}, {"GET", "/metrics"}, {"GET", "/api/unknown"},
	}
	for _, r := range routes {
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

// TestLocalCursorWalk pages through 2,500 log entries while more arrive and
// checks that every entry is seen exactly once, newest first.
func TestLocalCursorWalk(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	const n = 2500
	ingest(t, fx.db, n, func(i int) *store.Delivery {
		d := &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("walk-", i), ClientID: fmt.Sprint(i % 7)}
		if i%3 == 0 {
			d.Status, d.Error = store.StatusFailed, "test"
		}
		return d
	})
	extra := 0 // entries added during the walks, matching no filter below

	for _, tc := range []struct {
		query string
		limit int
		want  int
	}{
		{"", 100, n},
		{"", 77, n},
		{"&status=failed", 50, (n + 2) / 3},
		{"&client_id=3", 1000, n / 7},
	} {
		t.Run(fmt.Sprintf("limit=%d%s", tc.limit, tc.query), func(t *testing.T) {
			if tc.query == "" {
				tc.want += extra
			}
			seen := map[uint64]bool{}
			last := ^uint64(0)
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatal("cursor walk does not end")
				}
				path := fmt.Sprintf("/api/webhook-logs?limit=%d%s", tc.limit, tc.query)
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				code, data := do(t, fx.local, "GET", path, "", nil)
				if code != 200 {
					t.Fatalf("%s = %d %s", path, code, data)
				}
				p := decode[app.Page[*store.LogEntry]](t, data)
				if len(p.Items) > tc.limit {
					t.Fatalf("page of %d, limit %d", len(p.Items), tc.limit)
				}
				for _, e := range p.Items {
					if e.ID >= last || seen[e.ID] {
						t.Fatalf("id %d after %d (seen %v): not newest first or repeated", e.ID, last, seen[e.ID])
					}
					seen[e.ID], last = true, e.ID
				}
				// Entries arriving during the walk are newer than the
				// cursor and must not show up in later pages.
				ingest(t, fx.db, 3, func(i int) *store.Delivery {
					return &store.Delivery{Endpoint: "articles", Event: "article.updated"}
				})
				extra += 3
				if p.NextCursor == nil {
					break
				}
				cursor = *p.NextCursor
			}
			if len(seen) != tc.want {
				t.Fatalf("saw %d entries, want %d", len(seen), tc.want)
			}
		})
	}
}

// ingest stores n deliveries made by mk, 50 at a time concurrently.
func ingest(tb testing.TB, db *store.DB, n int, mk func(i int) *store.Delivery) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := db.Ingest(context.Background(), mk(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// TestHealthTunnel checks the tunnel part of /api/health and the status.
func TestHealthTunnel(t *testing.T) {
	for _, tc := range []struct {
		tunnel    app.TunnelStatus
		wantCodes []string // besides no_active_secret of the fixture's "nosecret" endpoint
		wantURL   string
	}{
		{app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOnline, PublicURL: "https://edge.ngrok.app"}, nil, "https://edge.ngrok.app"},
		{app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOffline, Error: "dial tcp: connection refused"}, []string{app.ProblemTunnelOffline}, ""},
		{app.TunnelStatus{Provider: "none", Status: app.TunnelDisabled}, nil, ""},
	} {
		t.Run(tc.tunnel.Status, func(t *testing.T) {
			fx := newFixture(t, app.LocalConfig{Tunnel: func() app.TunnelStatus { return tc.tunnel }, ReceiverListen: "127.0.0.1:8080", Started: time.Now().Add(-90 * time.Second)})
			code, data := do(t, fx.local, "GET", "/api/health", "", nil)
			h := decode[app.Health](t, data)
			gotURL := ""
			if h.Tunnel.PublicURL != nil {
				gotURL = *h.Tunnel.PublicURL
			}
			codes := []string{}
			for _, p := range h.Problems {
				if p.Code != app.ProblemNoActiveSecret {
					codes = append(codes, p.Code)
				}
			}
			if diff := cmp.Diff(append([]string{}, tc.wantCodes...), codes); diff != "" || h.Status != "degraded" {
				t.Errorf("status %s, problems (-want +got):\n%s", h.Status, diff)
			}
			if code != 200 || h.Tunnel.Provider != tc.tunnel.Provider || h.Tunnel.Status != tc.tunnel.Status || gotURL != tc.wantURL ||
				*h.Receiver.Listen != "127.0.0.1:8080" || h.UptimeSeconds < 90 {
				t.Errorf("health = %d %s", code, data)
			}
			if !bytes.Contains(data, []byte(`"public_url":`)) {
				t.Errorf("public_url missing: %s", data)
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
	admin := []struct{ method, path string }{
		{"GET", "/api/health"}, {"GET", "/api/stats"}, {"GET", "/api/webhook-logs"},
		{"GET", "/api/webhook-logs/1"}, {"POST", "/api/webhook-logs/1/replay"},
		{"POST", "/api/webhook-logs/replay?status=failed"}, {"GET", "/api/customers"},
		{"GET", "/api/customers/1"}, {"GET", "/api/customers/1/history"}, {"GET", "/api/changes"},
		{"GET", "/api/webhooks"}, {"POST", "/api/webhooks"}, {"DELETE", "/api/webhooks/1"},
		{"POST", "/api/webhooks/register"}, {"POST", "/api/sync/customers"}, {"GET", "/api/sync"},
		{"GET", "/api/backup"}, {"GET", "/metrics"},
	}
	for _, r := range admin {
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

// TestMetrics parses the exposition of /metrics.
func TestMetrics(t *testing.T) {
	online := app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOnline, PublicURL: "https://e.example"}
	fx := newFixture(t, app.LocalConfig{Tunnel: func() app.TunnelStatus { return online }})
	fx.seed(t)
	code, data := do(t, fx.local, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("/metrics = %d %s", code, data)
	}
	got := parseMetrics(t, string(data))
	want := map[string]float64{
		`robaws_edge_deliveries_total{endpoint="customers",status="processed"}`: 3,
		`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`:    2,
		`robaws_edge_deliveries_total{endpoint="customers",status="ignored"}`:   1,
		`robaws_edge_deliveries_total{endpoint="customers",status="rejected"}`:  1,
		`robaws_edge_processing_seconds_count{endpoint="customers"}`:            6,
		`robaws_edge_customers`:              2,
		`robaws_edge_tunnel_up`:              1,
		`robaws_edge_rejected_dropped_total`: 0,
		// The fixture's "nosecret" endpoint has no secret.
		`robaws_edge_health_problems{code="no_active_secret"}`: 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[`robaws_edge_processing_seconds_bucket{endpoint="customers",le="+Inf"}`]; !ok {
		t.Errorf("latency histogram buckets missing")
	}
	// Replays are not deliveries.
	replayLog(t, fx, fx.ids["failed"])
	_, data = do(t, fx.local, "GET", "/metrics", "", nil)
	if got := parseMetrics(t, string(data)); got[`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`] != 2 {
		t.Errorf("failed deliveries after a replay = %v, want 2", got[`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`])
	}
	if code, data := do(t, fx.local, "GET", "/metrics?x=1", "", nil); code != 400 {
		t.Errorf("/metrics?x=1 = %d %s, want 400", code, data)
	}
}

// parseMetrics reads Prometheus text format: "# HELP/TYPE" lines must name
// a known type, every sample line is "name{labels} value".
func parseMetrics(tb testing.TB, text string) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				tb.Fatalf("bad type line %q", line)
			}
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			tb.Fatalf("bad sample line %q", line)
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			tb.Fatalf("bad value in %q: %v", line, err)
		}
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, "_bucket"), "_sum"), "_count")
		if types[base] == "" && types[family] == "" {
			tb.Fatalf("sample %q has no TYPE line", line)
		}
		out[name] = v
	}
	return out
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

// TestLogEntryInvalidUTF8 stores two unauthenticated bodies with invalid
// UTF-8 (anyone can send one: rejected bodies are kept) and reads them back:
// the answer stays valid JSON and carries the bytes as payload_base64.
func TestLogEntryInvalidUTF8(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	for _, body := range [][]byte{
		[]byte("\xff\xfe binary \x00\x80"),
		[]byte(`{"id":"e-utf8","event":"client.updated","data":{"id":"1","name":"bad ` + "\xc3\x28" + `"}}`),
	} {
		resp, err := http.Post(pub+customersPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		a := decodeAnswer(t, resp)
		if a.Code != 401 {
			t.Fatalf("post: got %d, want 401", a.Code)
		}
		evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Limit: 1})
		if err != nil || len(evs) != 1 {
			t.Fatalf("latest entry: %v %v", evs, err)
		}
		resp, err = http.Get(fmt.Sprintf("%s/api/webhook-logs/%d", local, evs[0].ID))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(raw) || !utf8.Valid(raw) {
			t.Fatalf("got %d, valid JSON %v, valid UTF-8 %v: %q", resp.StatusCode, json.Valid(raw), utf8.Valid(raw), raw)
		}
		e := decode[app.LogEntryDetail](t, raw)
		if !bytes.Equal(e.PayloadBase64, body) || e.Payload != nil || e.PayloadText != nil {
			t.Fatalf("payload_base64 = %q (payload %q, text %v), want the body", e.PayloadBase64, e.Payload, e.PayloadText)
		}
	}
}

// TestCustomerRawInvalidUTF8: a signed client whose data has invalid UTF-8
// in a key and in values is applied; the customer (raw included), its
// history and /api/changes are valid JSON and UTF-8, with U+FFFD where the
// bytes were, while the log entry keeps the payload verbatim
// (payload_base64). The client the CLI uses (`customers show --json`)
// gets and re-encodes valid JSON too.
func TestCustomerRawInvalidUTF8(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	body := []byte("{\"id\":\"e-raw-utf8\",\"event\":\"client.created\",\"data\":{\"id\":\"U-1\",\"na\xffme\":1,\"name\":\"Caf\xc3 \xff\xfeBar\",\"city\":\"Gent\"}}")
	a := postSigned(t, http.DefaultClient, pub, body)
	if a.Code != 200 || a.Status != store.StatusProcessed {
		t.Fatalf("delivery: got %+v, want 200 processed", a)
	}
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(local + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("GET %s: %d, valid UTF-8 %v, valid JSON %v: %q", path, resp.StatusCode, utf8.Valid(data), json.Valid(data), data)
		}
		return data
	}
	cust := decode[store.Customer](t, get("/api/customers/U-1"))
	var raw map[string]any
	if err := json.Unmarshal(cust.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	const bad = "\uFFFD"
	if _, ok := raw["na"+bad+"me"]; !ok || raw["name"] != "Caf"+bad+" "+bad+bad+"Bar" || raw["city"] != "Gent" {
		t.Fatalf("raw = %q, want the data with U+FFFD for each invalid byte", cust.Raw)
	}
	if cust.Name != raw["name"] {
		t.Fatalf("name = %q, want %q as in raw (a JSON decoder reads each invalid byte as U+FFFD)", cust.Name, raw["name"])
	}
	for _, path := range []string{"/api/customers/U-1/history", "/api/changes"} {
		p := decode[app.Page[*store.HistoryEntry]](t, get(path))
		if len(p.Items) != 1 || p.Items[0].Changes["name"].To != cust.Name {
			t.Fatalf("GET %s: %+v, want one entry whose name change is %q", path, p.Items, cust.Name)
		}
	}
	e := decode[app.LogEntryDetail](t, get(fmt.Sprintf("/api/webhook-logs/%d", a.LogID)))
	if !bytes.Equal(e.PayloadBase64, body) {
		t.Fatalf("payload_base64 = %q, want the body as received", e.PayloadBase64)
	}

	client := app.NewClient(strings.TrimPrefix(local, "http://"), "")
	got, err := client.Customer(context.Background(), "U-1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := json.MarshalIndent(got, "", "  "); err != nil || !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("the customer as `customers show --json` prints it: %v, %q", err, out)
	}
}

// TestLongMultibyteIDs: a verified delivery whose data.id, or id, is over
// 512 bytes of 3-byte characters is failed (SPEC §1.5), and its log entry
// shows the id clipped to 510 bytes, before the character that byte 512
// falls in, never a partial character.
func TestLongMultibyteIDs(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	euros := strings.Repeat("€", 200)
	clipped := strings.Repeat("€", 170)
	for _, tt := range []struct {
		name, eventID, clientID   string
		wantEventID, wantClientID string
		wantErr                   string
	}{
		{"data.id", "e-euros", euros, "e-euros", clipped, "data.id longer than 512 bytes"},
		{"id", euros, "C-1", clipped, "", "id or event longer than 512 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := delivery(tt.eventID, "client.updated", tt.clientID, "Long", "")
			a := postSigned(t, http.DefaultClient, pub, body)
			if a.Code != 200 || a.Status != store.StatusFailed || a.Error != tt.wantErr {
				t.Fatalf("delivery: got %+v, want 200 failed %q", a, tt.wantErr)
			}
			resp, err := http.Get(fmt.Sprintf("%s/api/webhook-logs/%d", local, a.LogID))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			e := decode[app.LogEntryDetail](t, data)
			if e.EventID != tt.wantEventID || e.ClientID != tt.wantClientID {
				t.Fatalf("logged event_id %q (%d bytes), client_id %q (%d bytes); want %q and %q",
					e.EventID, len(e.EventID), e.ClientID, len(e.ClientID), tt.wantEventID, tt.wantClientID)
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
