package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestSignatureVectors checks the shared vectors and every reject reason
// through the public app, with the clock fixed at the vector's timestamp.
func TestSignatureVectors(t *testing.T) {
	for i, v := range readVectors(t) {
		t.Run(fmt.Sprint("vector", i), func(t *testing.T) {
			if got := intake.Sign(v.Secret, v.T, []byte(v.Body)); got != v.Header {
				t.Fatalf("Sign = %q, want %q", got, v.Header)
			}
			db := MustOpenDB(t, "")
			f := app.NewPublic(MustReceiver(t, db, time.Unix(v.T, 0), nil), app.PublicConfig{})
			a := post(t, f, "POST", customersPath, []byte(v.Body), v.Header)
			if a.Code != 200 || a.Status == "" {
				t.Fatalf("got %d %+v, want 200 with a status", a.Code, a)
			}
		})
	}
}

func TestWebhookRejections(t *testing.T) {
	v := readVectors(t)[1]
	body := []byte(v.Body)
	now := time.Unix(v.T, 0)
	flipped := bytes.Clone(body)
	flipped[10] ^= 0x01
	sig := func(secret string, ts int64) string { return intake.Sign(secret, ts, body) }
	wrongMAC := strings.Repeat("ab", 32)
	tests := []struct {
		name     string
		path     string
		body     []byte
		header   string
		wantCode int
		wantErr  string
	}{
		{"missing signature", customersPath, body, "", 401, "missing signature"},
		{"blank signature", customersPath, body, "   ", 401, "missing signature"},
		{"no t", customersPath, body, "v1=" + v.V1, 401, "malformed signature"},
		{"t not an integer", customersPath, body, "t=12a,v1=" + v.V1, 401, "malformed signature"},
		// t is digits only and MAC'd as sent: a sign or a leading zero is
		// not the same t, even when the MAC is computed over the number.
		{"t with a plus sign", customersPath, body, fmt.Sprintf("t=+%d,v1=%s", v.T, v.V1), 401, "malformed signature"},
		{"t with a minus sign", customersPath, body, fmt.Sprintf("t=-%d,v1=%s", v.T, v.V1), 401, "malformed signature"},
		{"t with a leading zero", customersPath, body, fmt.Sprintf("t=0%d,v1=%s", v.T, v.V1), 401, "signature mismatch"},
		{"t with an inner space", customersPath, body, fmt.Sprintf("t=%d %d,v1=%s", v.T/10, v.T%10, v.V1), 401, "malformed signature"},
		{"t empty", customersPath, body, "t=,v1=" + v.V1, 401, "malformed signature"},
		{"no v1", customersPath, body, fmt.Sprintf("t=%d,v0=%s", v.T, v.V1), 401, "malformed signature"},
		{"bad prefix only", customersPath, body, fmt.Sprintf("t=%d,sha256=%s", v.T, v.V1), 401, "malformed signature"},
		{"flipped body byte", customersPath, flipped, v.Header, 401, "signature mismatch"},
		{"wrong secret", customersPath, body, sig("not-the-secret", v.T), 401, "signature mismatch"},
		{"secret of another endpoint", customersPath, body, sig("articles-secret", v.T), 401, "signature mismatch"},
		{"past beyond tolerance", customersPath, body, sig(testSecret, v.T-301), 401, "timestamp outside tolerance"},
		{"future beyond tolerance", customersPath, body, sig(testSecret, v.T+301), 401, "timestamp outside tolerance"},
		{"endpoint without secrets", "/api/webhooks/robaws/nosecret", body, v.Header, 401, "no active secret"},
		{"empty body signed", customersPath, []byte{}, intake.Sign(testSecret, v.T, nil), 200, ""},
		{"past within tolerance", customersPath, body, sig(testSecret, v.T-300), 200, ""},
		{"future within tolerance", customersPath, body, sig(testSecret, v.T+300), 200, ""},
		{"first of two secrets", customersPath, body, sig("old-secret", v.T), 200, ""},
		{"spaces and several v1", customersPath, body, fmt.Sprintf(" t = %d , v1=%s ,  v1 = %s , v0=zz", v.T, wrongMAC, v.V1), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "")
			f := app.NewPublic(MustReceiver(t, db, now, nil), app.PublicConfig{})
			a := post(t, f, "POST", tt.path, tt.body, tt.header)
			if a.Code != tt.wantCode || a.Error != tt.wantErr && tt.wantCode == 401 {
				t.Fatalf("got %d %q, want %d %q", a.Code, a.Error, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode != 401 {
				return
			}
			if strings.Contains(a.Error, v.V1) || strings.Contains(a.Error, testSecret) {
				t.Fatalf("error %q discloses a MAC or secret", a.Error)
			}
			// A rejection is logged with its reason and its payload quarantined.
			evs, _, err := db.FindEvents(context.Background(), store.LogFilter{Status: store.StatusRejected})
			if err != nil || len(evs) != 1 {
				t.Fatalf("rejected entries = %d (%v), want 1", len(evs), err)
			}
			if evs[0].Error != tt.wantErr {
				t.Fatalf("logged reason %q, want %q", evs[0].Error, tt.wantErr)
			}
			p, err := db.FindPayload(context.Background(), evs[0].ID)
			if err != nil || !bytes.Equal(p.Body, tt.body) || p.SignatureHeader != strings.TrimSpace(tt.header) {
				t.Fatalf("quarantined payload = %q/%q (%v), want the request", p.Body, p.SignatureHeader, err)
			}
		})
	}
}

// TestWebhookResponses covers the accepted rows of SPEC §1.
func TestWebhookResponses(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, "")
	f := app.NewPublic(MustReceiver(t, db, now, nil), app.PublicConfig{})
	send := func(path string, body []byte) answer {
		return post(t, f, "POST", path, body, intake.Sign(testSecret, now.Unix(), body))
	}
	created := readFixture(t, "client-created.json")
	updated := readFixture(t, "client-updated.json")

	a := send(customersPath, created)
	if a.Code != 200 || a.Status != "processed" || a.LogID == 0 {
		t.Fatalf("created: got %+v, want processed", a)
	}
	first := a.LogID
	if a := send(customersPath, created); a.Status != "duplicate" || a.LogID != first {
		t.Fatalf("repeat: got %+v, want duplicate of %d", a, first)
	}
	if a := send(customersPath, updated); a.Status != "processed" {
		t.Fatalf("updated: got %+v, want processed", a)
	}
	older := delivery("evt-older", "client.updated", "3473", "OLD NAME", "2026-11-28T10:00:00Z")
	if a := send(customersPath, older); a.Status != "stale" {
		t.Fatalf("older update: got %+v, want stale", a)
	}
	c, err := db.FindCustomerByID(context.Background(), "3473")
	if err != nil || c.Name != "222 CARS" || *c.Role != "FORWARDER" || *c.Email != "sales@222motors.example" {
		t.Fatalf("customer after stale = %+v (%v), want the newer update kept", c, err)
	}

	rows := []struct {
		name       string
		path       string
		body       string
		wantStatus string
		wantErr    string
	}{
		{"not JSON", customersPath, `not json`, "failed", "body is not a JSON object"},
		{"id missing", customersPath, `{"event":"client.updated","data":{"id":"1"}}`, "failed", "id missing or not a string"},
		{"id a number", customersPath, `{"id":5,"event":"client.updated","data":{"id":"1"}}`, "failed", "id missing or not a string"},
		{"event missing", customersPath, `{"id":"e-ev","data":{"id":"1"}}`, "failed", "event missing or not a string"},
		{"data not object", customersPath, `{"id":"e-data","event":"client.updated","data":[1]}`, "failed", "data missing or not an object"},
		{"data.id missing", customersPath, `{"id":"e-noid","event":"client.updated","data":{"name":"x"}}`, "failed", "data.id missing"},
		{"event not configured", customersPath, `{"id":"e-ign","event":"invoice.created","data":{"id":"9"}}`, "ignored", ""},
		{"other family", "/api/webhooks/robaws/articles", `{"id":"e-art","event":"article.updated","data":{"id":"A1"}}`, "processed", ""},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			secret := testSecret
			if strings.Contains(tt.path, "articles") {
				secret = "articles-secret"
			}
			a := post(t, f, "POST", tt.path, []byte(tt.body), intake.Sign(secret, now.Unix(), []byte(tt.body)))
			if a.Code != 200 || a.Status != tt.wantStatus || a.Error != tt.wantErr || a.LogID == 0 {
				t.Fatalf("got %d %+v, want 200 %s %q", a.Code, a, tt.wantStatus, tt.wantErr)
			}
			ev, err := db.FindEventByID(context.Background(), a.LogID)
			if err != nil || ev.Status != tt.wantStatus || ev.Error != tt.wantErr {
				t.Fatalf("stored %+v (%v), want status %s", ev, err, tt.wantStatus)
			}
			p, err := db.FindPayload(context.Background(), a.LogID)
			if err != nil || string(p.Body) != tt.body {
				t.Fatalf("stored payload %q (%v), want the body", p.Body, err)
			}
		})
	}

	t.Run("other method", func(t *testing.T) {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			if a := post(t, f, m, customersPath, nil, ""); a.Code != 405 || a.Error == "" {
				t.Fatalf("%s: got %+v, want 405", m, a)
			}
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		for _, p := range []string{"/", "/api/health", "/api/webhooks/robaws/other", "/api/customers", "/API/WEBHOOKS/robaws/customers", customersPath + "/"} {
			if a := post(t, f, "POST", p, created, intake.Sign(testSecret, now.Unix(), created)); a.Code != 404 || a.Error != "not found" {
				t.Fatalf("%s: got %+v, want 404", p, a)
			}
		}
	})
}

// TestHistory checks the history of a created then updated customer.
func TestHistory(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, "")
	f := app.NewPublic(MustReceiver(t, db, now, nil), app.PublicConfig{})
	for _, name := range []string{"client-created.json", "client-updated.json"} {
		body := readFixture(t, name)
		if a := post(t, f, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body)); a.Status != "processed" {
			t.Fatalf("%s: %+v", name, a)
		}
	}
	// The same data again under a new event id changes nothing.
	same := readFixture(t, "client-updated.json")
	same = bytes.Replace(same, []byte("d6f1a3c2"), []byte("00000000"), 1)
	if a := post(t, f, "POST", customersPath, same, intake.Sign(testSecret, now.Unix(), same)); a.Status != "processed" {
		t.Fatalf("same data: %+v", a)
	}
	hist, _, err := db.FindHistory(context.Background(), store.HistoryFilter{CustomerID: "3473"})
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

// TestConcurrentDuplicates sends one signed delivery 50 times at once over
// a real listener, then again after a restart.
func TestConcurrentDuplicates(t *testing.T) {
	path := t.TempDir() + "/robaws-edge.db"
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := serve(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}))
	body := readFixture(t, "client-created.json")
	sig := intake.Sign(testSecret, now.Unix(), body)
	send := func(base string) answer {
		req, _ := http.NewRequest("POST", base+customersPath, bytes.NewReader(body))
		req.Header.Set("Robaws-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return answer{}
		}
		return decodeAnswer(t, resp)
	}
	var wg sync.WaitGroup
	answers := make([]answer, 50)
	for i := range answers {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = send(base) }()
	}
	wg.Wait()
	counts := map[string]int{}
	logIDs := map[uint64]bool{}
	for _, a := range answers {
		counts[fmt.Sprint(a.Code, " ", a.Status)]++
		logIDs[a.LogID] = true
	}
	if counts["200 processed"] != 1 || counts["200 duplicate"] != 49 || len(logIDs) != 1 {
		t.Fatalf("answers = %v over log ids %v, want 1 processed + 49 duplicate of one entry", counts, logIDs)
	}
	var logID uint64
	for id := range logIDs {
		logID = id
	}
	ev, err := db.FindEventByID(context.Background(), logID)
	if err != nil || ev.Deliveries != 50 || ev.Status != "processed" {
		t.Fatalf("entry = %+v (%v), want deliveries 50", ev, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := MustOpenDB(t, path)
	base2 := serve(t, app.NewPublic(MustReceiver(t, db2, time.Time{}, nil), app.PublicConfig{}))
	if a := send(base2); a.Code != 200 || a.Status != "duplicate" || a.LogID != logID {
		t.Fatalf("after restart: got %+v, want duplicate of %d", a, logID)
	}
	if ev, _ := db2.FindEventByID(context.Background(), logID); ev.Deliveries != 51 {
		t.Fatalf("deliveries after restart = %d, want 51", ev.Deliveries)
	}
}

// TestBodyTooLarge needs a real listener: app.Test reports an error instead.
func TestBodyTooLarge(t *testing.T) {
	db := MustOpenDB(t, "")
	base := serve(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{MaxBodyBytes: 1024}))
	body := bytes.Repeat([]byte("x"), 2048)
	req, _ := http.NewRequest("POST", base+customersPath, bytes.NewReader(body))
	req.Header.Set("Robaws-Signature", intake.Sign(testSecret, time.Now().Unix(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, resp)
	if a.Code != 413 || a.Error != "request body too large" {
		t.Fatalf("got %+v, want 413", a)
	}
	if evs, _, _ := db.FindEvents(context.Background(), store.LogFilter{}); len(evs) != 0 {
		t.Fatalf("stored %d entries for a too-large body, want 0", len(evs))
	}
}

// TestStorageUnavailable closes the store underneath the receiver: the
// answer must be 503, never 2xx.
func TestStorageUnavailable(t *testing.T) {
	db := MustOpenDB(t, "")
	now := time.Now()
	f := app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{})
	db.Close()
	for _, body := range [][]byte{readFixture(t, "client-created.json"), []byte(`not json`)} {
		a := post(t, f, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body))
		if a.Code != 503 || a.Error != "storage unavailable" {
			t.Fatalf("got %+v, want 503 storage unavailable", a)
		}
	}
}

func TestQuarantineBoundedAndRateLimited(t *testing.T) {
	path := t.TempDir() + "/q.db"
	db, err := store.Open(path, store.Options{QuarantineMaxBytes: 250})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	r := MustReceiver(t, db, now, func(c *intake.Config) { c.RejectedPerMinute = 3 })
	f := app.NewPublic(r, app.PublicConfig{})
	for i := range 5 {
		body := bytes.Repeat([]byte{'a' + byte(i)}, 100)
		if a := post(t, f, "POST", customersPath, body, "t=1,v1="+strings.Repeat("00", 32)); a.Code != 401 {
			t.Fatalf("got %+v, want 401", a)
		}
	}
	evs, _, _ := db.FindEvents(context.Background(), store.LogFilter{Status: "rejected"})
	if len(evs) != 3 || r.RejectedDropped() != 2 {
		t.Fatalf("logged %d rejected, dropped %d; want 3 and 2", len(evs), r.RejectedDropped())
	}
	// 3 × ~140 bytes > 250: the oldest payload was dropped, its entry stays.
	oldest := evs[len(evs)-1].ID
	if _, err := db.FindPayload(context.Background(), oldest); err != store.ErrNotFound {
		t.Fatalf("oldest payload: %v, want dropped", err)
	}
	if p, err := db.FindPayload(context.Background(), evs[0].ID); err != nil || len(p.Body) != 100 {
		t.Fatalf("newest payload: %q %v, want kept", p.Body, err)
	}
	// A new minute opens the limit again; accepted deliveries never count.
	r.Now = func() time.Time { return now.Add(time.Minute) }
	body := []byte("x")
	if a := post(t, f, "POST", customersPath, body, "t=1,v1="+strings.Repeat("00", 32)); a.Code != 401 {
		t.Fatalf("got %+v", a)
	}
	if evs, _, _ := db.FindEvents(context.Background(), store.LogFilter{Status: "rejected"}); len(evs) != 4 {
		t.Fatalf("rejected after a minute = %d, want 4", len(evs))
	}
}

// TestNoSecretsInLogs runs accepted, rejected and failed deliveries with an
// info-level logger and checks no secret, signature or payload shows.
func TestNoSecretsInLogs(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	now := time.Now()
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, func(c *intake.Config) { c.Logger = logger })
	f := app.NewPublic(r, app.PublicConfig{Logger: logger})
	body := readFixture(t, "client-created.json")
	good := intake.Sign(testSecret, now.Unix(), body)
	bad := intake.Sign("wrong", now.Unix(), body)
	post(t, f, "POST", customersPath, body, good)
	post(t, f, "POST", customersPath, body, bad)
	post(t, f, "POST", customersPath, []byte("garbage"), intake.Sign(testSecret, now.Unix(), []byte("garbage")))
	db.Close()
	post(t, f, "POST", customersPath, body, good)
	logs := buf.String()
	if !strings.Contains(logs, "webhook rejected") {
		t.Fatalf("expected a rejected warning in logs, got %q", logs)
	}
	for _, secret := range []string{testSecret, "old-secret", good[strings.Index(good, "v1=")+3:], bad[strings.Index(bad, "v1=")+3:], "222 CARS", "Noorderlaan", "garbage"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCommitFailsGives503 lets bbolt's commit itself fail (the file may not
// grow): those deliveries get 503, and every delivery answered 2xx is stored.
func TestCommitFailsGives503(t *testing.T) {
	path := t.TempDir() + "/full.db"
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	size := db.Size()
	db.Close()
	db, err = store.Open(path, store.Options{MaxSize: int(size)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	f := app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{MaxBodyBytes: 1 << 20})
	var acked []uint64
	got503 := 0
	for i := range 40 {
		body := delivery(fmt.Sprint("full-", i), "client.updated", fmt.Sprint("F", i), strings.Repeat("n", 100<<10), "")
		a := post(t, f, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body))
		switch {
		case a.Code == 503 && a.Error == "storage unavailable":
			got503++
		case a.Code == 200:
			acked = append(acked, a.LogID)
		default:
			t.Fatalf("delivery %d: got %+v, want 200 or 503", i, a)
		}
	}
	if got503 == 0 {
		t.Fatal("no delivery got 503 although commits could not grow the file")
	}
	for _, id := range acked {
		if _, err := db.FindEventByID(context.Background(), id); err != nil {
			t.Fatalf("acknowledged log %d missing: %v", id, err)
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSignatureOverTimestampAsSent: the MAC covers t's bytes as sent, so a
// sender that pads t with a zero and MACs those bytes verifies.
func TestSignatureOverTimestampAsSent(t *testing.T) {
	v := readVectors(t)[1]
	body := []byte(v.Body)
	ts := fmt.Sprintf("0%d", v.T)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(ts + "." + v.Body))
	header := "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	db := MustOpenDB(t, "")
	f := app.NewPublic(MustReceiver(t, db, time.Unix(v.T, 0), nil), app.PublicConfig{})
	if a := post(t, f, "POST", customersPath, body, header); a.Code != 200 || a.Status != "processed" {
		t.Fatalf("got %d %+v, want 200 processed", a.Code, a)
	}
}

// TestOverlongKeysFail: a verified delivery whose id, event or data.id is
// too long to be a key is stored failed and answered 200, never 503
// (SPEC §1.5), so Robaws does not retry it forever.
func TestOverlongKeysFail(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 40<<10) // over bbolt's 32 KiB key limit
	tests := []struct {
		name, eventID, event, clientID string
	}{
		{"data.id", "e-long-client", "client.updated", long},
		{"data.id just over 512", "e-513", "client.updated", strings.Repeat("7", 513)},
		{"id", long, "client.updated", "1"},
		{"event", "e-long-event", long, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "")
			f := app.NewPublic(MustReceiver(t, db, now, nil), app.PublicConfig{})
			body := delivery(tt.eventID, tt.event, tt.clientID, "Long", "")
			a := post(t, f, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body))
			if a.Code != 200 || a.Status != "failed" || a.LogID == 0 || !strings.Contains(a.Error, "512") {
				t.Fatalf("got %d %+v, want 200 failed naming the 512-byte limit", a.Code, a)
			}
			ev, err := db.FindEventByID(context.Background(), a.LogID)
			if err != nil || ev.Status != store.StatusFailed || len(ev.ClientID) > 512 || len(ev.EventID) > 512 {
				t.Fatalf("stored %+v (%v), want failed with clipped ids", ev, err)
			}
			p, err := db.FindPayload(context.Background(), a.LogID)
			if err != nil || !bytes.Equal(p.Body, body) {
				t.Fatalf("payload kept = %v (%v), want the whole body", len(p.Body), err)
			}
			if n, _ := countCustomers(db); n != 0 {
				t.Fatalf("customers = %d, want 0", n)
			}
		})
	}
}

func countCustomers(db *store.DB) (int, error) {
	cs, _, err := db.FindCustomers(context.Background(), store.CustomerFilter{Limit: 1000})
	return len(cs), err
}
