package intake_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// fixtures holds the Robaws payloads and signature vectors (copied from the
// project's shared fixtures, so a clone tests on its own).
const fixtures = "testdata/robaws"

const testSecret = "test-secret-key"

// MustOpenDB opens a store in a temp dir (path "" = a new file), closed at
// cleanup.
func MustOpenDB(tb testing.TB, path string, opts store.Options) *store.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "robaws-edge.db")
	}
	db, err := store.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testEndpoints returns the default customers endpoint with testSecret, a
// second endpoint with its own secret and one without secrets.
func testEndpoints() []intake.Endpoint {
	return []intake.Endpoint{
		{Name: "customers", Path: "/api/webhooks/robaws/customers", Events: []string{"client.created", "client.updated"}, Secrets: []string{"old-secret", testSecret}},
		{Name: "articles", Path: "/api/webhooks/robaws/articles", Events: []string{"article.updated"}, Secrets: []string{"articles-secret"}},
		{Name: "nosecret", Path: "/api/webhooks/robaws/nosecret", Events: []string{"client.updated"}},
	}
}

// MustReceiver returns a receiver over db with the clocks of both fixed at
// now (the real clock when now is zero).
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

// endpoint returns r's endpoint named name.
func endpoint(tb testing.TB, r *intake.Receiver, name string) *intake.Endpoint {
	tb.Helper()
	ep, err := r.Endpoint(name)
	if err != nil {
		tb.Fatal(err)
	}
	return ep
}

// receive delivers body to the named endpoint, signed with header.
func receive(tb testing.TB, r *intake.Receiver, name string, body []byte, header string) (intake.Outcome, error) {
	tb.Helper()
	return r.Receive(tb.Context(), intake.Incoming{Endpoint: endpoint(tb, r, name), Body: body, SignatureHeader: header, RemoteAddr: "192.0.2.1"})
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

// delivery builds a client event body.
func delivery(eventID, event, clientID, name, updatedAt string) []byte {
	data := map[string]any{"id": clientID, "name": name}
	if updatedAt != "" {
		data["updatedAt"] = updatedAt
	}
	b, _ := json.Marshal(map[string]any{"id": eventID, "event": event, "data": data})
	return b
}
