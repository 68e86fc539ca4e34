package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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
