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
	e := decode[app.LogEntry](t, data)
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
	e = decode[app.LogEntry](t, data)
	if e.Status != "processed" || len(e.StatusHistory) != 2 || e.StatusHistory[0].Status != "rejected" ||
		e.StatusHistory[1].Status != "processed" || e.StatusHistory[1].By != "replay" {
		t.Fatalf("after replay: status %s, history %+v", e.Status, e.StatusHistory)
	}
}

// latestID is the newest log entry's id.
func (fx *fixture) latestID(tb testing.TB) uint64 {
	tb.Helper()
	evs, _, err := fx.db.FindEvents(context.Background(), store.LogFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		tb.Fatalf("no log entry: %v", err)
	}
	return evs[0].ID
}
