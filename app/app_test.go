package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// fixtures holds the Robaws payloads and signature vectors (copied from the
// project's shared fixtures, so a clone tests on its own).
const fixtures = "testdata/robaws"

const testSecret = "test-secret-key"

const customersPath = "/api/webhooks/robaws/customers"

// MustOpenDB opens a store in a temp dir, closed at cleanup.
func MustOpenDB(tb testing.TB, path string) *store.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "robaws-edge.db")
	}
	db, err := store.Open(path, store.Options{QuarantineMaxBytes: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testEndpoints returns the default customers endpoint with testSecret
// and a second endpoint with its own secret.
func testEndpoints() []intake.Endpoint {
	return []intake.Endpoint{
		{Name: "customers", Path: customersPath, Events: []string{"client.created", "client.updated"}, Secrets: []string{"old-secret", testSecret}},
		{Name: "articles", Path: "/api/webhooks/robaws/articles", Events: []string{"article.updated"}, Secrets: []string{"articles-secret"}},
		{Name: "nosecret", Path: "/api/webhooks/robaws/nosecret", Events: []string{"client.updated"}},
	}
}

// MustReceiver returns a receiver over db with a clock fixed at now.
func MustReceiver(tb testing.TB, db *store.DB, now time.Time, mutate func(*intake.Config)) *intake.Receiver {
	tb.Helper()
	cfg := intake.Config{Endpoints: testEndpoints(), Logger: slog.New(slog.DiscardHandler)}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := intake.NewReceiver(db, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if !now.IsZero() {
		r.Now = func() time.Time { return now }
		db.Now = r.Now
	}
	return r
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

type vector struct {
	Secret string `json:"secret"`
	T      int64  `json:"t"`
	Body   string `json:"body"`
	V1     string `json:"v1"`
	Header string `json:"header"`
}

func readVectors(tb testing.TB) []vector {
	tb.Helper()
	var vs []vector
	if err := json.Unmarshal(readFixture(tb, "signature-vectors.json"), &vs); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// answer is a decoded receiver reply.
type answer struct {
	Code   int
	Status string `json:"status"`
	LogID  uint64 `json:"log_id"`
	Error  string `json:"error"`
}

// post sends body to path through app.Test with the given signature header
// ("" = none).
func post(tb testing.TB, f *fiber.App, method, path string, body []byte, sig string) answer {
	tb.Helper()
	req, _ := http.NewRequest(method, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Robaws-Signature", sig)
	}
	resp, err := f.Test(req, -1)
	if err != nil {
		tb.Fatal(err)
	}
	return decodeAnswer(tb, resp)
}

// signedRequest is a POST of body to the customers endpoint at base,
// signed now with testSecret.
func signedRequest(base string, body []byte) *http.Request {
	req, _ := http.NewRequest("POST", base+customersPath, bytes.NewReader(body))
	req.Header.Set("Robaws-Signature", intake.Sign(testSecret, time.Now().Unix(), body))
	return req
}

// postSigned sends signedRequest over c and returns the answer.
func postSigned(tb testing.TB, c *http.Client, base string, body []byte) answer {
	tb.Helper()
	resp, err := c.Do(signedRequest(base, body))
	if err != nil {
		tb.Fatalf("signed delivery to %s: %v", base, err)
	}
	return decodeAnswer(tb, resp)
}

func decodeAnswer(tb testing.TB, resp *http.Response) answer {
	tb.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{Code: resp.StatusCode}
	if err := json.Unmarshal(data, &a); err != nil {
		tb.Fatalf("status %d: body %q is not JSON: %v", resp.StatusCode, data, err)
	}
	return a
}

// listen returns a listener on a free loopback port.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// serveOn serves f on ln until the test ends and returns ln's address.
func serveOn(tb testing.TB, f *fiber.App, ln net.Listener) string {
	tb.Helper()
	go f.Listener(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.ShutdownWithContext(ctx)
	})
	return ln.Addr().String()
}

// serve serves f on a loopback listener and returns its base URL.
func serve(tb testing.TB, f *fiber.App) string {
	tb.Helper()
	return "http://" + serveOn(tb, f, listen(tb))
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivery builds a signed client event body.
func delivery(eventID, event, clientID, name, updatedAt string) []byte {
	data := map[string]any{"id": clientID, "name": name}
	if updatedAt != "" {
		data["updatedAt"] = updatedAt
	}
	b, _ := json.Marshal(map[string]any{"id": eventID, "event": event, "data": data})
	return b
}

// customerRecord prepares c as the receiver does before Ingest.
func customerRecord(c *store.Customer) *store.Record {
	r, err := store.PrepareCustomer(c)
	if err != nil {
		panic(err)
	}
	return r
}
