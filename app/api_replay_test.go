package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// replayLog replays log entry id through the local API.
func replayLog(tb testing.TB, fx *fixture, id uint64) app.ReplayAnswer {
	tb.Helper()
	code, data := do(tb, fx.local, "POST", fmt.Sprintf("/api/webhook-logs/%d/replay", id), "", nil)
	if code != 200 {
		tb.Fatalf("replay %d = %d %s, want 200", id, code, data)
	}
	return decode[app.ReplayAnswer](tb, data)
}

func historyOf(tb testing.TB, db *store.DB, customerID string) []*store.HistoryEntry {
	tb.Helper()
	h, _, err := db.FindHistory(context.Background(), store.HistoryFilter{CustomerID: customerID, Limit: store.MaxLimit})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func entry(tb testing.TB, db *store.DB, id uint64) *store.LogEntry {
	tb.Helper()
	ev, err := db.FindLogEntry(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

// TestReplayProcessedAddsNoHistory replays a processed delivery twice.
func TestReplayProcessedAddsNoHistory(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	fx.seed(t)
	before := historyOf(t, fx.db, "1")
	customer, _ := fx.db.FindCustomerByID(context.Background(), "1")
	stats := second(do(t, fx.local, "GET", "/api/stats", "", nil))
	for range 2 {
		if a := replayLog(t, fx, fx.ids["alice2"]); a.Status != "processed" || a.LogID != fx.ids["alice2"] {
			t.Fatalf("replay = %+v, want processed %d", a, fx.ids["alice2"])
		}
	}
	if diff := cmp.Diff(before, historyOf(t, fx.db, "1")); diff != "" {
		t.Errorf("history changed (-before +after):\n%s", diff)
	}
	if after, _ := fx.db.FindCustomerByID(context.Background(), "1"); !cmp.Equal(customer, after, cmpopts.IgnoreUnexported(store.Customer{})) {
		t.Errorf("customer changed (-before +after):\n%s", cmp.Diff(customer, after, cmpopts.IgnoreUnexported(store.Customer{})))
	}
	if after := second(do(t, fx.local, "GET", "/api/stats", "", nil)); string(after) != string(stats) {
		t.Errorf("stats changed:\n%s\n%s", stats, after)
	}
	if ev := entry(t, fx.db, fx.ids["alice2"]); ev.Status != "processed" || ev.Deliveries != 1 {
		t.Errorf("entry = %+v", ev)
	}
	// An older processed delivery of the same customer is stale now.
	if a := replayLog(t, fx, fx.ids["alice"]); a.Status != "stale" {
		t.Errorf("replay of the older delivery = %+v, want stale", a)
	}
	if diff := cmp.Diff(before, historyOf(t, fx.db, "1")); diff != "" {
		t.Errorf("history changed by a stale replay (-before +after):\n%s", diff)
	}
}

// TestReplayAfterMappingFix replays a delivery whose role was missed because
// role_field was wrong, through a receiver with the corrected config.
func TestReplayAfterMappingFix(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	body := readFixture(t, "client-updated-uuid-extrafields.json")
	a := fx.deliver(t, "uuid", testSecret, body)
	if a.Status != "processed" {
		t.Fatalf("delivery = %+v", a)
	}
	if c, _ := fx.db.FindCustomerByID(context.Background(), "218"); c.Role != nil {
		t.Fatalf("role = %q before the fix, want null", *c.Role)
	}

	// The config fix: role_field is the field's UUID. A restart builds a new
	// receiver and local API over the same store.
	fixed := MustReceiver(t, fx.db, fx.now.Add(2*time.Hour), func(cfg *intake.Config) {
		cfg.Mapping.RoleField = "9F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"
	})
	fx.local = app.NewLocal(fx.db, fixed, app.LocalConfig{})
	if a := replayLog(t, fx, fx.ids["uuid"]); a.Status != "processed" {
		t.Fatalf("replay = %+v, want processed", a)
	}
	c, err := fx.db.FindCustomerByID(context.Background(), "218")
	if err != nil || c.Role == nil || *c.Role != "TRANSPORT COMPANY" || c.Source != "replay" {
		t.Fatalf("customer = %+v, %v; want role TRANSPORT COMPANY from replay", c, err)
	}
	h := historyOf(t, fx.db, "218")
	want := map[string]store.Change{"role": {From: nil, To: "TRANSPORT COMPANY"}}
	if len(h) != 2 || h[0].Source != "replay" || *h[0].LogID != fx.ids["uuid"] || !cmp.Equal(h[0].Changes, want) {
		t.Errorf("newest history = %+v, want role change from replay", h[0])
	}
}

// TestReplayFailed replays a delivery stored as failed (as a mapping that
// failed on it at the time would have left it) once the cause is gone.
func TestReplayFailed(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	body := clientBody("ev-f", "client.updated", map[string]any{"id": 42, "name": "Fixed Later", "email": "f@example.com"})
	res, err := fx.db.Ingest(context.Background(), &store.Delivery{
		Endpoint: "customers", Event: "client.updated", EventID: "ev-f", ClientID: "42", Status: store.StatusFailed,
		Error: "mapping failed", Payload: body, SignatureTimestamp: fx.now.Unix(), SecretID: "config:customers#2",
	})
	if err != nil || res.Status != "failed" {
		t.Fatalf("ingest = %+v, %v", res, err)
	}
	if a := replayLog(t, fx, res.LogID); a.Status != "processed" || a.Error != "" {
		t.Fatalf("replay = %+v, want processed", a)
	}
	ev := entry(t, fx.db, res.LogID)
	if ev.Status != "processed" || ev.Error != "" {
		t.Errorf("entry = %+v, want processed without error", ev)
	}
	h := historyOf(t, fx.db, "42")
	if len(h) != 1 || h[0].Source != "replay" || *h[0].LogID != res.LogID || h[0].Changes["name"].To != "Fixed Later" {
		t.Errorf("history = %+v, want one entry from replay", h)
	}
	if evs, _, _ := fx.db.FindLogEntries(context.Background(), store.LogFilter{Status: "failed"}); len(evs) != 0 {
		t.Errorf("status index still lists %d failed entries", len(evs))
	}
	// The same event delivered again is a duplicate of the replayed entry.
	if a := fx.deliver(t, "again", testSecret, body); a.Status != "duplicate" || a.LogID != res.LogID {
		t.Errorf("redelivery = %+v, want duplicate of %d", a, res.LogID)
	}
}

// TestReplayRejected replays a delivery signed with a secret unknown at
// arrival, before and after the secret is added, hours later (the tolerance
// does not apply to a replay).
func TestReplayRejected(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	body := clientBody("ev-r", "client.created", map[string]any{"id": 7, "name": "New Secret Ltd"})
	if a := fx.deliver(t, "r", "rotated-secret-1234", body); a.Code != 401 || a.Error != "signature mismatch" {
		t.Fatalf("delivery = %+v, want 401 signature mismatch", a)
	}
	id := fx.ids["r"]
	later := fx.now.Add(3 * time.Hour)
	fx.recv.Now = func() time.Time { return later }

	if a := replayLog(t, fx, id); a.Status != "rejected" || a.Error != "signature mismatch" || a.LogID != id {
		t.Fatalf("replay before the secret is known = %+v, want rejected", a)
	}
	if code, data := do(t, fx.local, "POST", "/api/webhooks", "", app.CreateWebhookRequest{Endpoint: "customers", Secret: "rotated-secret-1234"}); code != 201 {
		t.Fatalf("add secret = %d %s", code, data)
	}
	if a := replayLog(t, fx, id); a.Status != "processed" || a.LogID != id {
		t.Fatalf("replay after webhooks add = %+v, want processed", a)
	}
	ev := entry(t, fx.db, id)
	if ev.Status != "processed" || ev.Error != "" || ev.SecretID != "1" || ev.EventID != "ev-r" {
		t.Errorf("entry = %+v", ev)
	}
	p, err := fx.db.FindPayload(context.Background(), id)
	if err != nil || string(p.Body) != string(body) || p.SignatureHeader != "" {
		t.Errorf("payload = %+v, %v; want the body, out of the quarantine", p, err)
	}
	if h := historyOf(t, fx.db, "7"); len(h) != 1 || h[0].Source != "replay" {
		t.Errorf("history = %+v, want one entry from replay", h)
	}
}

// TestReplayBulk replays all rejected entries at once after their secret is
// added.
func TestReplayBulk(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{})
	fx.seed(t)
	for i := range 5 {
		body := clientBody(fmt.Sprint("bulk-", i), "client.updated", map[string]any{"id": 100 + i, "name": fmt.Sprint("Bulk ", i)})
		fx.deliver(t, fmt.Sprint("bulk", i), "late-secret-0123456", body)
	}
	// One more carries an event id that later got processed: it replays as
	// a duplicate.
	dup := clientBody("ev-2", "client.updated", map[string]any{"id": "2", "name": "Bob Builders"})
	fx.deliver(t, "dup", "late-secret-0123456", dup)

	if code, data := do(t, fx.local, "POST", "/api/webhooks", "", app.CreateWebhookRequest{Endpoint: "customers", Secret: "late-secret-0123456"}); code != 201 {
		t.Fatalf("add secret = %d %s", code, data)
	}
	code, data := do(t, fx.local, "POST", "/api/webhook-logs/replay?status=rejected", "", nil)
	if code != 200 {
		t.Fatalf("bulk replay = %d %s", code, data)
	}
	got := decode[app.ReplaySummary](t, data)
	// The seed's rejected entry was signed with "wrong-secret": still rejected.
	want := app.ReplaySummary{Replayed: 7, ByStatus: map[string]int{"processed": 5, "duplicate": 1, "rejected": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	rejected, _, _ := fx.db.FindLogEntries(context.Background(), store.LogFilter{Status: "rejected"})
	if len(rejected) != 2 {
		t.Errorf("%d entries still rejected, want 2 (wrong secret, duplicate)", len(rejected))
	}

	for _, tc := range []struct{ query, wantErr string }{
		{"", "invalid status: required, failed or rejected"},
		{"?status=processed", "invalid status: want failed or rejected"},
		{"?status=failed&x=1", `unknown parameter "x"`},
	} {
		code, data := do(t, fx.local, "POST", "/api/webhook-logs/replay"+tc.query, "", nil)
		if e := decode[struct{ Error string }](t, data); code != 400 || e.Error != tc.wantErr {
			t.Errorf("replay%s = %d %s, want 400 %q", tc.query, code, data, tc.wantErr)
		}
	}
	code, data = do(t, fx.local, "POST", "/api/webhook-logs/replay?status=failed", "", nil)
	if got := decode[app.ReplaySummary](t, data); code != 200 || got.Replayed != 2 || got.ByStatus["failed"] != 2 {
		t.Errorf("replay failed = %d %s, want 2 still failed", code, data)
	}
}

// TestReplayErrors covers 404 and the 409 of an entry whose quarantined
// payload was dropped.
func TestReplayErrors(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{QuarantineMaxBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	recv := MustReceiver(t, db, now, nil)
	fx := &fixture{db: db, recv: recv, public: app.NewPublic(recv, app.PublicConfig{}), local: app.NewLocal(db, recv, app.LocalConfig{}), now: now, ids: map[string]uint64{}}
	fx.deliver(t, "big", "nobody-knows", clientBody("ev-big", "client.updated", map[string]any{"id": 1, "name": "Too big for the quarantine"}))

	code, data := do(t, fx.local, "POST", fmt.Sprintf("/api/webhook-logs/%d/replay", fx.ids["big"]), "", nil)
	if e := decode[struct{ Error string }](t, data); code != 409 || e.Error == "" {
		t.Errorf("replay without payload = %d %s, want 409", code, data)
	}
	code, data = do(t, fx.local, "GET", fmt.Sprintf("/api/webhook-logs/%d", fx.ids["big"]), "", nil)
	if le := decode[app.LogEntryDetail](t, data); code != 200 || le.Payload != nil || le.PayloadText != nil {
		t.Errorf("entry without payload = %d %s, want no payload keys", code, data)
	}
	if code, data := do(t, fx.local, "POST", "/api/webhook-logs/12345/replay", "", nil); code != 404 {
		t.Errorf("replay unknown = %d %s, want 404", code, data)
	}
	if code, data := do(t, fx.local, "POST", "/api/webhook-logs/0/replay", "", nil); code != 400 {
		t.Errorf("replay 0 = %d %s, want 400", code, data)
	}
}
