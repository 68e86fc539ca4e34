package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestRejectedAuditTrail: a delivery rejected under an unknown secret keeps
// a signature summary (never the MAC); after the secret is added, its
// replay is processed and the status history still shows the rejection.
func TestRejectedAuditTrail(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	body := clientBody("ev-audit", "client.created", map[string]any{"id": "42", "name": "Audit"})
	const late = "late-secret-0123456789"
	header := intake.Sign(late, fx.now.Unix()-90, body) + ",v1=" + strings.Repeat("0", 64)
	a := post(t, fx.public, "POST", customersPath, body, header)
	if a.Code != 401 {
		t.Fatalf("delivery: %+v, want 401", a)
	}
	id := fx.latestID(t)
	path := fmt.Sprintf("/api/webhook-logs/%d", id)
	code, data := do(t, fx.local, "GET", path, "", nil)
	e := decode[app.LogEntryDetail](t, data)
	if code != 200 || e.Signature == nil || e.Signature.Timestamp == nil || e.Signature.Timestamp.Unix() != fx.now.Unix()-90 ||
		e.Signature.AgeSeconds == nil || *e.Signature.AgeSeconds != 90 || e.Signature.V1Count != 2 {
		t.Fatalf("signature summary = %+v (%d %s)", e.Signature, code, data)
	}
	mac := header[strings.Index(header, "v1=")+3 : strings.Index(header, "v1=")+3+64]
	if strings.Contains(string(data), mac) {
		t.Fatalf("the detail shows the MAC: %s", data)
	}
	if len(e.StatusHistory) != 1 || e.StatusHistory[0].Status != "rejected" || e.StatusHistory[0].By != "delivery" {
		t.Fatalf("status history = %+v, want one rejected by delivery", e.StatusHistory)
	}

	if code, data := do(t, fx.local, "POST", "/api/webhooks", "", app.CreateWebhookRequest{Endpoint: "customers", Secret: late}); code != 201 {
		t.Fatalf("add secret = %d %s", code, data)
	}
	if r := replayLog(t, fx, id); r.Status != "processed" {
		t.Fatalf("replay = %+v, want processed", r)
	}
	_, data = do(t, fx.local, "GET", path, "", nil)
	e = decode[app.LogEntryDetail](t, data)
	if e.Status != "processed" || len(e.StatusHistory) != 2 || e.StatusHistory[0].Status != "rejected" ||
		e.StatusHistory[1].Status != "processed" || e.StatusHistory[1].By != "replay" {
		t.Fatalf("after replay: status %s, history %+v", e.Status, e.StatusHistory)
	}
}

// latestID is the newest log entry's id.
func (fx *fixture) latestID(tb testing.TB) uint64 {
	tb.Helper()
	evs, _, err := fx.db.FindLogEntries(context.Background(), store.LogFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		tb.Fatalf("no log entry: %v", err)
	}
	return evs[0].ID
}

// TestSendTestDataLeftOut: deliveries and customers of send-test (ids
// starting "TEST-") stay out of /api/stats, /metrics and the customer list
// unless ?test=true (SPEC §6), and still show in the log.
func TestSendTestDataLeftOut(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	for i, id := range []string{"TEST-1", "TEST-2", "real-1"} {
		body := clientBody(fmt.Sprint("ev-test-", i), "client.created", map[string]any{"id": id, "name": "N " + id})
		if a := fx.deliver(t, id, testSecret, body); a.Status != "processed" {
			t.Fatalf("deliver %s: %+v", id, a)
		}
	}
	_, data := do(t, fx.local, "GET", "/api/stats", "", nil)
	s := decode[app.Stats](t, data)
	if s.Deliveries.Total != 1 || s.Customers.Total != 1 || s.Deliveries.Last24h.Total != 1 {
		t.Fatalf("stats = %s, want only the real delivery and customer", data)
	}
	_, data = do(t, fx.local, "GET", "/api/stats?test=true", "", nil)
	if s := decode[app.Stats](t, data); s.Deliveries.Total != 3 || s.Deliveries.ByStatus["processed"] != 3 || s.Deliveries.ByEvent["client.created"] != 3 || s.Customers.Total != 1 {
		t.Fatalf("stats?test=true = %s, want 3 deliveries", data)
	}
	_, data = do(t, fx.local, "GET", "/api/customers", "", nil)
	if p := decode[app.Page[*store.Customer]](t, data); len(p.Items) != 1 || p.Items[0].ID != "real-1" {
		t.Fatalf("customers = %s, want real-1 only", data)
	}
	_, data = do(t, fx.local, "GET", "/api/customers?test=true", "", nil)
	if p := decode[app.Page[*store.Customer]](t, data); len(p.Items) != 3 {
		t.Fatalf("customers?test=true = %s, want 3", data)
	}
	_, data = do(t, fx.local, "GET", "/metrics", "", nil)
	if !strings.Contains(string(data), "robaws_edge_customers 1\n") {
		t.Fatalf("metrics count test customers:\n%s", data)
	}
	_, data = do(t, fx.local, "GET", "/api/webhook-logs?client_id=TEST-1", "", nil)
	if p := decode[app.Page[*store.LogEntry]](t, data); len(p.Items) != 1 || !p.Items[0].Test {
		t.Fatalf("log for TEST-1 = %s, want one entry marked test", data)
	}
}
