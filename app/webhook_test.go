package app_test

import (
	"bytes"
	"context"
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

// TestWebhookRejections checks the wire side of a rejection (SPEC §1.3):
// 401 {"error": reason}, no MAC or secret in it, the entry logged with the
// header as received. The reasons themselves are intake's (TestVerify).
func TestWebhookRejections(t *testing.T) {
	v := readVectors(t)[1]
	body := []byte(v.Body)
	now := time.Unix(v.T, 0)
	tests := []struct {
		name     string
		path     string
		header   string
		wantCode int
		wantErr  string
	}{
		{"missing signature", customersPath, "", 401, "missing signature"},
		{"blank signature", customersPath, "   ", 401, "missing signature"},
		{"no t", customersPath, "v1=" + v.V1, 401, "malformed signature"},
		{"wrong secret", customersPath, intake.Sign("not-the-secret", v.T, body), 401, "signature mismatch"},
		{"past beyond tolerance", customersPath, intake.Sign(testSecret, v.T-301, body), 401, "timestamp outside tolerance"},
		{"endpoint without secrets", "/api/webhooks/robaws/nosecret", v.Header, 401, "no active secret"},
		{"accepted", customersPath, " " + v.Header + " ", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "")
			f := app.NewPublic(MustReceiver(t, db, now, nil), app.PublicConfig{})
			a := post(t, f, "POST", tt.path, body, tt.header)
			if a.Code != tt.wantCode || a.Error != tt.wantErr {
				t.Fatalf("got %d %q, want %d %q", a.Code, a.Error, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode != 401 {
				return
			}
			if a.Status != "" || a.LogID != 0 {
				t.Fatalf("401 answer %+v has more than an error", a)
			}
			if strings.Contains(a.Error, v.V1) || strings.Contains(a.Error, testSecret) {
				t.Fatalf("error %q discloses a MAC or secret", a.Error)
			}
			evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Status: store.StatusRejected})
			if err != nil || len(evs) != 1 || evs[0].Error != tt.wantErr {
				t.Fatalf("rejected entries = %+v (%v), want 1 with reason %q", evs, err, tt.wantErr)
			}
			p, err := db.FindPayload(context.Background(), evs[0].ID)
			if err != nil || !bytes.Equal(p.Body, body) || p.SignatureHeader != strings.TrimSpace(tt.header) {
				t.Fatalf("quarantined payload = %q/%q (%v), want the request", p.Body, p.SignatureHeader, err)
			}
		})
	}
}

// TestWebhookResponses covers the 200 answers of SPEC §1 on the wire, 405
// and 404; intake's TestReceiveOutcomes has every row.
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
			ev, err := db.FindLogEntry(context.Background(), a.LogID)
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

// TestBodyTooLarge needs a real listener: app.Test reports an error instead.
func TestBodyTooLarge(t *testing.T) {
	db := MustOpenDB(t, "")
	base := serve(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{MaxBodyBytes: 1024}))
	body := bytes.Repeat([]byte("x"), 2048)
	a := postSigned(t, http.DefaultClient, base, body)
	if a.Code != 413 || a.Error != "request body too large" {
		t.Fatalf("got %+v, want 413", a)
	}
	if evs, _, _ := db.FindLogEntries(context.Background(), store.LogFilter{}); len(evs) != 0 {
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
		if _, err := db.FindLogEntry(context.Background(), id); err != nil {
			t.Fatalf("acknowledged log %d missing: %v", id, err)
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
