package intake_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestReceiveRejected: each reject reason is returned as its sentinel, the
// delivery logged as rejected with that reason and its payload quarantined.
func TestReceiveRejected(t *testing.T) {
	v := readVectors(t)[1]
	body := []byte(v.Body)
	now := time.Unix(v.T, 0)
	tests := []struct {
		name     string
		endpoint string
		header   string
		wantErr  error
	}{
		{"missing signature", "customers", "", intake.ErrMissingSignature},
		{"malformed", "customers", "t=12a,v1=" + v.V1, intake.ErrMalformed},
		{"secret of another endpoint", "customers", intake.Sign("articles-secret", v.T, body), intake.ErrBadSignature},
		{"outside tolerance", "customers", intake.Sign(testSecret, v.T-301, body), intake.ErrTimestamp},
		{"endpoint without secrets", "nosecret", v.Header, intake.ErrNoActiveSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "", store.Options{QuarantineMaxBytes: 1 << 20})
			var calls []string
			r := MustReceiver(t, db, now, func(c *intake.Config) {
				c.OnDelivery = func(ep, status string, took time.Duration) { calls = append(calls, ep+" "+status) }
			})
			o, err := receive(t, r, tt.endpoint, body, tt.header)
			if err != tt.wantErr || o != (intake.Outcome{}) {
				t.Fatalf("got %+v, %v; want no outcome, %v", o, err, tt.wantErr)
			}
			if want := []string{tt.endpoint + " rejected"}; fmt.Sprint(calls) != fmt.Sprint(want) {
				t.Fatalf("OnDelivery calls = %v, want %v", calls, want)
			}
			evs, _, err := db.FindLogEntries(t.Context(), store.LogFilter{Status: store.StatusRejected})
			if err != nil || len(evs) != 1 {
				t.Fatalf("rejected entries = %d (%v), want 1", len(evs), err)
			}
			ev := evs[0]
			if ev.Error != tt.wantErr.Error() || ev.EventID != "37de8552-0007-4269-a76c-06a9415c8b65" || ev.ClientID != "3473" || !ev.ReceivedAt.Equal(now) {
				t.Fatalf("logged %+v, want reason %q, the unverified ids and the receipt time", ev, tt.wantErr)
			}
			p, err := db.FindPayload(t.Context(), ev.ID)
			if err != nil || !bytes.Equal(p.Body, body) || p.SignatureHeader != tt.header {
				t.Fatalf("quarantined payload = %q/%q (%v), want the request", p.Body, p.SignatureHeader, err)
			}
		})
	}
}

// TestReceiveOutcomes covers the accepted rows of SPEC §1.5–8.
func TestReceiveOutcomes(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, "", store.Options{})
	var mu sync.Mutex
	var calls []string
	r := MustReceiver(t, db, now, func(c *intake.Config) {
		c.OnDelivery = func(ep, status string, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, status)
		}
	})
	send := func(name, secret string, body []byte) intake.Outcome {
		t.Helper()
		o, err := receive(t, r, name, body, intake.Sign(secret, now.Unix(), body))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	created := readFixture(t, "client-created.json")
	o := send("customers", testSecret, created)
	if o.Status != store.StatusProcessed || o.LogID == 0 || o.Error != "" {
		t.Fatalf("created: got %+v, want processed", o)
	}
	if d := send("customers", testSecret, created); d != (intake.Outcome{Status: "duplicate", LogID: o.LogID}) {
		t.Fatalf("repeat: got %+v, want duplicate of %d", d, o.LogID)
	}
	if o := send("customers", testSecret, readFixture(t, "client-updated.json")); o.Status != store.StatusProcessed {
		t.Fatalf("updated: got %+v, want processed", o)
	}
	older := delivery("evt-older", "client.updated", "3473", "OLD NAME", "2026-11-28T10:00:00Z")
	if o := send("customers", testSecret, older); o.Status != store.StatusStale {
		t.Fatalf("older update: got %+v, want stale", o)
	}
	c, err := db.FindCustomerByID(t.Context(), "3473")
	if err != nil || c.Name != "222 CARS" || *c.Email != "sales@222motors.example" {
		t.Fatalf("customer after stale = %+v (%v), want the newer update kept", c, err)
	}
	if want := "[processed duplicate processed stale]"; fmt.Sprint(calls) != want {
		t.Errorf("OnDelivery statuses = %v, want %s", calls, want)
	}

	rows := []struct {
		name       string
		endpoint   string
		body       string
		wantStatus string
		wantErr    string
	}{
		{"not JSON", "customers", `not json`, "failed", "body is not a JSON object"},
		{"JSON array", "customers", `[1]`, "failed", "body is not a JSON object"},
		{"id missing", "customers", `{"event":"client.updated","data":{"id":"1"}}`, "failed", "id missing or not a string"},
		{"id a number", "customers", `{"id":5,"event":"client.updated","data":{"id":"1"}}`, "failed", "id missing or not a string"},
		{"id blank", "customers", `{"id":" ","event":"client.updated","data":{"id":"1"}}`, "failed", "id missing or not a string"},
		{"event missing", "customers", `{"id":"e-ev","data":{"id":"1"}}`, "failed", "event missing or not a string"},
		{"data not object", "customers", `{"id":"e-data","event":"client.updated","data":[1]}`, "failed", "data missing or not an object"},
		{"data missing", "customers", `{"id":"e-nodata","event":"client.updated"}`, "failed", "data missing or not an object"},
		{"data.id missing", "customers", `{"id":"e-noid","event":"client.updated","data":{"name":"x"}}`, "failed", "data.id missing"},
		{"event not configured", "customers", `{"id":"e-ign","event":"invoice.created","data":{"id":"9"}}`, "ignored", ""},
		{"other family", "articles", `{"id":"e-art","event":"article.updated","data":{"id":"A1"}}`, "processed", ""},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			secret := testSecret
			if tt.endpoint == "articles" {
				secret = "articles-secret"
			}
			o := send(tt.endpoint, secret, []byte(tt.body))
			if o.Status != tt.wantStatus || o.Error != tt.wantErr || o.LogID == 0 {
				t.Fatalf("got %+v, want %s %q", o, tt.wantStatus, tt.wantErr)
			}
			ev, err := db.FindLogEntry(t.Context(), o.LogID)
			if err != nil || ev.Status != tt.wantStatus || ev.Error != tt.wantErr || !ev.ReceivedAt.Equal(now) {
				t.Fatalf("stored %+v (%v), want status %s", ev, err, tt.wantStatus)
			}
			p, err := db.FindPayload(t.Context(), o.LogID)
			if err != nil || string(p.Body) != tt.body {
				t.Fatalf("stored payload %q (%v), want the body", p.Body, err)
			}
		})
	}
}

// TestHistory checks the history of a created then updated customer.
func TestHistory(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, "", store.Options{})
	r := MustReceiver(t, db, now, nil)
	same := bytes.Replace(readFixture(t, "client-updated.json"), []byte("d6f1a3c2"), []byte("00000000"), 1)
	// The last one is the same data again under a new event id: it changes
	// nothing.
	for i, body := range [][]byte{readFixture(t, "client-created.json"), readFixture(t, "client-updated.json"), same} {
		if o, err := receive(t, r, "customers", body, intake.Sign(testSecret, now.Unix(), body)); err != nil || o.Status != store.StatusProcessed {
			t.Fatalf("delivery %d: %+v, %v", i, o, err)
		}
	}
	hist, _, err := db.FindHistory(t.Context(), store.HistoryFilter{CustomerID: "3473"})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %d entries (%v), want 2", len(hist), err)
	}
	upd, crt := hist[0], hist[1]
	wantUpd := map[string]store.Change{
		"email":         {From: "info@222motors.example", To: "sales@222motors.example"},
		"address.line2": {From: nil, To: "Gate 3"},
		"role":          {From: "LUXURY CAR DEALER", To: "FORWARDER"},
		"pricing_code":  {From: "B", To: "A"},
	}
	if fmt.Sprint(upd.Changes) != fmt.Sprint(wantUpd) || upd.Event != "client.updated" || upd.Source != "webhook" || upd.LogID == nil {
		t.Fatalf("update history = %+v, want changes %v", upd, wantUpd)
	}
	for _, k := range []string{"name", "email", "phone", "mobile", "vat_number", "address.line1", "address.city", "role", "pricing_code", "currency", "is_active"} {
		if _, ok := crt.Changes[k]; !ok || crt.Changes[k].From != nil {
			t.Errorf("created history lacks %s from null: %+v", k, crt.Changes)
		}
	}
	for _, k := range []string{"address.line2", "client_type", "raw", "version", "updated_at"} {
		if _, ok := crt.Changes[k]; ok {
			t.Errorf("created history has %s", k)
		}
	}
}

// TestConcurrentDuplicates receives one signed delivery 50 times at once,
// then again after the store is reopened: exactly one is processed.
func TestConcurrentDuplicates(t *testing.T) {
	path := t.TempDir() + "/robaws-edge.db"
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := MustReceiver(t, db, time.Time{}, nil)
	body := readFixture(t, "client-created.json")
	sig := intake.Sign(testSecret, time.Now().Unix(), body)
	var wg sync.WaitGroup
	outcomes := make([]intake.Outcome, 50)
	for i := range outcomes {
		wg.Go(func() {
			o, err := receive(t, r, "customers", body, sig)
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = o
		})
	}
	wg.Wait()
	counts := map[string]int{}
	logIDs := map[uint64]bool{}
	for _, o := range outcomes {
		counts[o.Status]++
		logIDs[o.LogID] = true
	}
	if counts["processed"] != 1 || counts["duplicate"] != 49 || len(logIDs) != 1 {
		t.Fatalf("outcomes = %v over log ids %v, want 1 processed + 49 duplicate of one entry", counts, logIDs)
	}
	logID := outcomes[0].LogID
	ev, err := db.FindLogEntry(t.Context(), logID)
	if err != nil || ev.Deliveries != 50 || ev.Status != "processed" {
		t.Fatalf("entry = %+v (%v), want deliveries 50", ev, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := MustOpenDB(t, path, store.Options{})
	r2 := MustReceiver(t, db2, time.Time{}, nil)
	if o, err := receive(t, r2, "customers", body, sig); err != nil || o != (intake.Outcome{Status: "duplicate", LogID: logID}) {
		t.Fatalf("after reopening: got %+v, %v; want duplicate of %d", o, err, logID)
	}
	if ev, _ := db2.FindLogEntry(t.Context(), logID); ev.Deliveries != 51 {
		t.Fatalf("deliveries after reopening = %d, want 51", ev.Deliveries)
	}
}

// TestStorageUnavailable closes the store underneath the receiver: nothing
// is committed and the error says so, for parseable and failed bodies.
func TestStorageUnavailable(t *testing.T) {
	db := MustOpenDB(t, "", store.Options{})
	r := MustReceiver(t, db, time.Time{}, nil)
	db.Close()
	for _, body := range [][]byte{readFixture(t, "client-created.json"), []byte(`not json`)} {
		o, err := receive(t, r, "customers", body, intake.Sign(testSecret, time.Now().Unix(), body))
		if !errors.Is(err, store.ErrUnavailable) || o != (intake.Outcome{}) {
			t.Fatalf("got %+v, %v; want %v", o, err, store.ErrUnavailable)
		}
	}
}

// TestQuarantineBoundedAndRateLimited: rejected deliveries are logged up to
// RejectedPerMinute per minute, then only counted; their payloads are
// dropped oldest first beyond the quarantine's cap.
func TestQuarantineBoundedAndRateLimited(t *testing.T) {
	db := MustOpenDB(t, "", store.Options{QuarantineMaxBytes: 250})
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	r := MustReceiver(t, db, now, func(c *intake.Config) { c.RejectedPerMinute = 3 })
	badSig := "t=1,v1=" + strings.Repeat("00", 32)
	for i := range 5 {
		body := bytes.Repeat([]byte{'a' + byte(i)}, 100)
		if _, err := receive(t, r, "customers", body, badSig); err != intake.ErrTimestamp {
			t.Fatalf("got %v, want %v", err, intake.ErrTimestamp)
		}
	}
	evs, _, _ := db.FindLogEntries(t.Context(), store.LogFilter{Status: "rejected"})
	if len(evs) != 3 || r.RejectedDropped() != 2 {
		t.Fatalf("logged %d rejected, dropped %d; want 3 and 2", len(evs), r.RejectedDropped())
	}
	// 3 × ~140 bytes > 250: the oldest payload was dropped, its entry stays.
	oldest := evs[len(evs)-1].ID
	if _, err := db.FindPayload(t.Context(), oldest); err != store.ErrNotFound {
		t.Fatalf("oldest payload: %v, want dropped", err)
	}
	if p, err := db.FindPayload(t.Context(), evs[0].ID); err != nil || len(p.Body) != 100 {
		t.Fatalf("newest payload: %q %v, want kept", p.Body, err)
	}
	// Accepted deliveries never count against the limit.
	good := delivery("e-ok", "client.updated", "1", "OK", "")
	if o, err := receive(t, r, "customers", good, intake.Sign(testSecret, now.Unix(), good)); err != nil || o.Status != store.StatusProcessed {
		t.Fatalf("accepted delivery at the limit = %+v, %v; want processed", o, err)
	}
	// A new minute opens the limit again.
	r.Now = func() time.Time { return now.Add(time.Minute) }
	if _, err := receive(t, r, "customers", []byte("x"), badSig); err != intake.ErrTimestamp {
		t.Fatalf("got %v", err)
	}
	if evs, _, _ := db.FindLogEntries(t.Context(), store.LogFilter{Status: "rejected"}); len(evs) != 4 || r.RejectedDropped() != 2 {
		t.Fatalf("rejected after a minute = %d (dropped %d), want 4 (2)", len(evs), r.RejectedDropped())
	}
}

// sha16 is the first 16 hex digits of s's SHA-256.
func sha16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// TestOverlongKeysFail: a verified delivery whose id, event or data.id is
// too long to be a key is stored failed, never a storage error (SPEC §1.5),
// so Robaws does not retry it forever.
func TestOverlongKeysFail(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 40<<10) // over bbolt's 32 KiB key limit
	euros := strings.Repeat("€", 200)   // 600 bytes; byte 512 is inside the 171st
	tests := []struct {
		name, eventID, event, clientID string
		wantEventID, wantClientID      string // as logged
	}{
		{"data.id", "e-long-client", "client.updated", long, "e-long-client", long[:512]},
		{"data.id just over 512", "e-513", "client.updated", strings.Repeat("7", 513), "e-513", strings.Repeat("7", 512)},
		{"multibyte data.id", "e-euros", "client.updated", euros, "e-euros", strings.Repeat("€", 170)},
		// An event id is the de-duplication key too: clipped, it ends in
		// "~" and 16 hex digits of its SHA-256.
		{"id", long, "client.updated", "1", long[:495] + "~" + sha16(long), ""},
		{"multibyte id", euros, "client.updated", "1", strings.Repeat("€", 165) + "~" + sha16(euros), ""},
		{"event", "e-long-event", long, "1", "e-long-event", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "", store.Options{})
			r := MustReceiver(t, db, now, nil)
			body := delivery(tt.eventID, tt.event, tt.clientID, "Long", "")
			o, err := receive(t, r, "customers", body, intake.Sign(testSecret, now.Unix(), body))
			if err != nil || o.Status != "failed" || o.LogID == 0 || !strings.Contains(o.Error, "512") {
				t.Fatalf("got %+v, %v; want failed naming the 512-byte limit", o, err)
			}
			ev, err := db.FindLogEntry(t.Context(), o.LogID)
			if err != nil || ev.Status != store.StatusFailed || ev.ClientID != tt.wantClientID || ev.EventID != tt.wantEventID {
				t.Fatalf("stored %+v (%v), want failed with ids clipped to 512 bytes on a character boundary", ev, err)
			}
			p, err := db.FindPayload(t.Context(), o.LogID)
			if err != nil || !bytes.Equal(p.Body, body) {
				t.Fatalf("payload kept = %v (%v), want the whole body", len(p.Body), err)
			}
			if cs, _, _ := db.FindCustomers(t.Context(), store.CustomerFilter{Limit: 10}); len(cs) != 0 {
				t.Fatalf("customers = %d, want 0", len(cs))
			}
		})
	}
}

// TestReplay replays a rejected entry before and after its secret is
// added, hours later: the tolerance does not apply, nothing is counted as
// a delivery, and the outcome is the same type as a live one.
func TestReplay(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, "", store.Options{QuarantineMaxBytes: 1 << 20})
	calls := 0
	r := MustReceiver(t, db, now, func(c *intake.Config) {
		c.OnDelivery = func(string, string, time.Duration) { calls++ }
	})
	body := delivery("ev-r", "client.created", "7", "New Secret Ltd", "")
	if _, err := receive(t, r, "customers", body, intake.Sign("rotated-secret-1234", now.Unix(), body)); err != intake.ErrBadSignature {
		t.Fatalf("delivery = %v, want %v", err, intake.ErrBadSignature)
	}
	evs, _, _ := db.FindLogEntries(t.Context(), store.LogFilter{Status: store.StatusRejected})
	if len(evs) != 1 {
		t.Fatalf("rejected entries = %d, want 1", len(evs))
	}
	id := evs[0].ID
	r.Now = func() time.Time { return now.Add(3 * time.Hour) }
	if o, err := r.Replay(t.Context(), id); err != nil || o != (intake.Outcome{Status: "rejected", LogID: id, Error: "signature mismatch"}) {
		t.Fatalf("replay before the secret is known = %+v, %v; want rejected", o, err)
	}
	if err := db.CreateSecret(t.Context(), &store.Secret{Endpoint: "customers", Value: "rotated-secret-1234"}); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadSecrets(t.Context()); err != nil {
		t.Fatal(err)
	}
	if o, err := r.Replay(t.Context(), id); err != nil || o != (intake.Outcome{Status: "processed", LogID: id}) {
		t.Fatalf("replay after the secret is added = %+v, %v; want processed", o, err)
	}
	if ev, _ := db.FindLogEntry(t.Context(), id); ev.Status != store.StatusProcessed || ev.EventID != "ev-r" {
		t.Errorf("entry = %+v, want processed", ev)
	}
	if calls != 1 {
		t.Errorf("OnDelivery calls = %d, want 1 (the live rejection only)", calls)
	}
	if _, err := r.Replay(t.Context(), 12345); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay of an unknown entry = %v, want %v", err, store.ErrNotFound)
	}
}
