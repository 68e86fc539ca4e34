package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// makeClients returns n client objects with ids first…first+n-1 (in id
// order for the fake) updated at updatedAt.
func makeClients(first, n int, updatedAt time.Time) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		id := first + i
		out[i] = fmt.Appendf(nil, `{"id":%d,"name":"Client %d","email":"Client%d@Example.com","tel":"03 %03d %02d %02d","address":{"addressLine1":"Street %d","postalCode":"2000","city":"Antwerpen","country":"Belgium"},"extraFields":{"Role":{"type":"SELECT","stringValue":"forwarder"},"PRICING":{"stringValue":"TIER B"}},"currency":"EUR","language":"nl","updatedAt":%q}`,
			id, id, id, id%1000, id%100, id%97, id, updatedAt.UTC().Format(time.RFC3339Nano))
	}
	return out
}

// syncEnv is a syncer over a temp store and a fake Robaws.
type syncEnv struct {
	db     *store.DB
	fake   *fakeRobaws
	sleeps *sleeps
	syncer *app.Syncer
}

func newSyncEnv(t *testing.T, clients [][]byte) *syncEnv {
	t.Helper()
	e := &syncEnv{db: MustOpenDB(t, ""), fake: newFakeRobaws(t)}
	e.fake.clients = clients
	var robaws *app.Robaws
	robaws, e.sleeps = newTestRobaws(t, e.fake, nil)
	e.syncer = app.NewSyncer(e.db, robaws, customer.Mapping{}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { e.syncer.Close() })
	return e
}

// clientRequests returns the query of every GET /api/v2/clients.
func (e *syncEnv) clientRequests() []map[string]string {
	var out []map[string]string
	for _, r := range e.fake.Requests("GET", "/api/v2/clients") {
		out = append(out, r.Query)
	}
	return out
}

func TestSyncAllPagesWith429(t *testing.T) {
	updated := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	e := newSyncEnv(t, makeClients(1, 1050, updated))
	var once sync.Once
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		hit := false
		if r.URL.Query().Get("page") == "5" {
			once.Do(func() {
				hit = true
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
			})
		}
		return hit
	})
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	e.syncer.Now = func() time.Time { return start }

	got, err := e.syncer.Run(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := app.SyncProgress{Fetched: 1050, Total: 1050, Applied: 1050, StartedAt: &start, FinishedAt: &start}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("progress (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.syncer.Progress()); diff != "" {
		t.Fatalf("Progress() (-want +got):\n%s", diff)
	}
	var pages []string
	for _, q := range e.clientRequests() {
		pages = append(pages, q["page"])
		if _, ok := q["updatedFrom"]; ok {
			t.Errorf("full sync sent updatedFrom=%s", q["updatedFrom"])
		}
	}
	wantPages := []string{"0", "1", "2", "3", "4", "5", "5", "6", "7", "8", "9", "10"}
	if diff := cmp.Diff(wantPages, pages); diff != "" {
		t.Fatalf("pages requested (-want +got):\n%s", diff)
	}
	if !slices.Contains(e.sleeps.Waits(), time.Second) {
		t.Errorf("waits %v, want the 1 s of Retry-After", e.sleeps.Waits())
	}
	if n := e.db.CustomerCount(); n != 1050 {
		t.Fatalf("%d customers, want 1050", n)
	}
	c, err := e.db.FindCustomerByID(context.Background(), "1050")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != store.SourceSync || c.Name != "Client 1050" || !c.Version.Equal(updated) || *c.Email != "client1050@example.com" {
		t.Fatalf("customer 1050: source %q name %q version %v email %q", c.Source, c.Name, c.Version, *c.Email)
	}
	last, err := e.db.LastSyncStarted(context.Background())
	if err != nil || !last.Equal(start) {
		t.Fatalf("last sync start %v (%v), want %v", last, err, start)
	}

	// The same data again: nothing changes.
	got, err = e.syncer.Run(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Fetched != 1050 || got.Applied != 0 || got.Unchanged != 1050 || got.Stale != 0 {
		t.Fatalf("second sync %+v, want 1050 unchanged", got)
	}
}

// TestSyncKeepsNewerWebhook: a client changed by a webhook after the
// version Robaws' list still shows is not overwritten by the sync.
func TestSyncKeepsNewerWebhook(t *testing.T) {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(readFixture(t, "clients-page-0.json"), &page); err != nil {
		t.Fatal(err)
	}
	clients := make([][]byte, 0, len(page.Items)+1)
	for _, it := range page.Items {
		clients = append(clients, it)
	}
	clients = append(clients, []byte(`{"name":"no id"}`))
	e := newSyncEnv(t, clients)
	ctx := context.Background()

	// Client 218 is at 2026-11-30T07:45:00Z in the list; a webhook already
	// brought a newer version.
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	recv := MustReceiver(t, e.db, now, nil)
	public := app.NewPublic(recv, app.PublicConfig{})
	body := delivery("evt-newer", "client.updated", "218", "Dupont Transports (renamed)", "2026-11-30T08:30:00Z")
	if a := post(t, public, "POST", customersPath, body, app.Sign(testSecret, now.Unix(), body)); a.Status != "processed" {
		t.Fatalf("webhook: %+v", a)
	}

	fetched := time.Date(2026, 11, 30, 9, 5, 0, 0, time.UTC)
	e.syncer.Now = func() time.Time { return fetched }
	got, err := e.syncer.Run(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Fetched != 4 || got.Total != 4 || got.Applied != 2 || got.Stale != 1 || got.Errors != 1 {
		t.Fatalf("progress %+v, want fetched 4, applied 2, stale 1, errors 1", got)
	}
	c, err := e.db.FindCustomerByID(ctx, "218")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Dupont Transports (renamed)" || c.Source != store.SourceWebhook {
		t.Fatalf("customer 218: name %q source %q, want the webhook's", c.Name, c.Source)
	}
	// Without updatedAt the version is the time the page was fetched.
	c, err = e.db.FindCustomerByID(ctx, "4102")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Version.Equal(fetched) || c.Source != store.SourceSync {
		t.Fatalf("customer 4102: version %v source %q, want %v sync", c.Version, c.Source, fetched)
	}
}

func TestSyncIncremental(t *testing.T) {
	e := newSyncEnv(t, makeClients(1, 150, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	s1 := time.Date(2026, 11, 30, 9, 0, 0, 500_000_000, time.UTC)
	e.syncer.Now = func() time.Time { return s1 }
	if _, err := e.syncer.Run(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}

	s2 := s1.Add(24 * time.Hour)
	e.syncer.Now = func() time.Time { return s2 }
	last, err := e.db.LastSyncStarted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.syncer.Run(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if got.Since == nil || !got.Since.Equal(s1) {
		t.Fatalf("progress since %v, want %v", got.Since, s1)
	}
	reqs := e.clientRequests()
	if len(reqs) != 4 {
		t.Fatalf("%d client requests, want 2 + 2", len(reqs))
	}
	for _, q := range reqs[2:] {
		if q["updatedFrom"] != "2026-11-30T09:00:00Z" {
			t.Fatalf("incremental query %v, want updatedFrom=2026-11-30T09:00:00Z", q)
		}
	}
	if last, _ := e.db.LastSyncStarted(ctx); !last.Equal(s2) {
		t.Fatalf("last sync start %v, want %v", last, s2)
	}

	// A sync from a later point leaves a gap: the mark does not move.
	e.syncer.Now = func() time.Time { return s2.Add(time.Hour) }
	if _, err := e.syncer.Run(ctx, s2.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if last, _ := e.db.LastSyncStarted(ctx); !last.Equal(s2) {
		t.Fatalf("after a sync with a later since: last sync start %v, want %v", last, s2)
	}

	// A failed sync does not move it either.
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, `{"message":"maintenance"}`, http.StatusServiceUnavailable)
		return true
	})
	e.syncer.Now = func() time.Time { return s2.Add(2 * time.Hour) }
	p, err := e.syncer.Run(ctx, time.Time{})
	if err == nil || !strings.Contains(p.Error, "maintenance") {
		t.Fatalf("failing sync: err %v, progress error %q; want the 503 message", err, p.Error)
	}
	if last, _ := e.db.LastSyncStarted(ctx); !last.Equal(s2) {
		t.Fatalf("after a failed sync: last sync start %v, want %v", last, s2)
	}
}

// TestSyncPeriodic: the first turn is a full sync, the next one asks for
// clients updated since the first one started. The clock runs at real speed
// from 09:00:00, so the first start (within a second, even on a loaded
// machine under -race) floors to 09:00:00.
func TestSyncPeriodic(t *testing.T) {
	e := newSyncEnv(t, makeClients(1, 5, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	base, realStart := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), time.Now()
	e.syncer.Now = func() time.Time { return base.Add(time.Since(realStart)) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.syncer.RunPeriodic(ctx, 700*time.Millisecond) }()

	deadline := time.Now().Add(10 * time.Second)
	for len(e.clientRequests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("client requests %v, want 2 within 10s", e.clientRequests())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunPeriodic returned %v, want context.Canceled", err)
	}
	reqs := e.clientRequests()
	if _, ok := reqs[0]["updatedFrom"]; ok {
		t.Fatalf("first periodic sync sent updatedFrom: %v", reqs[0])
	}
	if got := reqs[1]["updatedFrom"]; got != "2026-11-30T09:00:00Z" {
		t.Fatalf("second periodic sync: updatedFrom %q, want the first start 2026-11-30T09:00:00Z", got)
	}
}

func TestSyncStartWhileRunning(t *testing.T) {
	e := newSyncEnv(t, makeClients(1, 120, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	if err := e.syncer.Start(time.Time{}); err != nil {
		t.Fatal(err)
	}
	<-entered // the first page is being fetched
	if err := e.syncer.Start(time.Time{}); !errors.Is(err, app.ErrSyncRunning) {
		t.Fatalf("second Start: err = %v, want ErrSyncRunning", err)
	}
	if _, err := e.syncer.Run(context.Background(), time.Time{}); !errors.Is(err, app.ErrSyncRunning) {
		t.Fatalf("Run while running: err = %v, want ErrSyncRunning", err)
	}
	p := e.syncer.Progress()
	if !p.Running || p.StartedAt == nil || p.FinishedAt != nil {
		t.Fatalf("progress while running %+v", p)
	}
	close(release)
	e.syncer.Wait()
	p = e.syncer.Progress()
	if p.Running || p.Fetched != 120 || p.Applied != 120 || p.FinishedAt == nil || p.Error != "" {
		t.Fatalf("progress after Wait %+v, want 120 applied and finished", p)
	}
	// A new one may start now.
	if err := e.syncer.Start(time.Time{}); err != nil {
		t.Fatalf("Start after the first finished: %v", err)
	}
	e.syncer.Wait()
}

func TestSyncClose(t *testing.T) {
	e := newSyncEnv(t, makeClients(1, 120, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	entered := make(chan struct{}, 10)
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		entered <- struct{}{}
		<-r.Context().Done() // hang until the client gives up
		return true
	})
	if err := e.syncer.Start(time.Time{}); err != nil {
		t.Fatal(err)
	}
	<-entered
	done := make(chan struct{})
	go func() { e.syncer.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the sync within 10s")
	}
	p := e.syncer.Progress()
	if p.Running || !strings.Contains(p.Error, "context canceled") {
		t.Fatalf("progress after Close %+v, want stopped with context canceled", p)
	}
	if err := e.syncer.Start(time.Time{}); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if last, _ := e.db.LastSyncStarted(context.Background()); !last.IsZero() {
		t.Fatalf("last sync start %v after a cancelled sync, want none", last)
	}
}

func TestSyncNoCredentials(t *testing.T) {
	s := app.NewSyncer(MustOpenDB(t, ""), nil, customer.Mapping{}, nil)
	if err := s.Start(time.Time{}); !errors.Is(err, app.ErrNoCredentials) {
		t.Fatalf("Start: err = %v, want ErrNoCredentials", err)
	}
	if err := s.RunPeriodic(context.Background(), time.Hour); err != nil {
		t.Fatalf("RunPeriodic: %v, want nil at once", err)
	}
}

func TestSyncProgressJSON(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	got := mustJSON(t, app.SyncProgress{Running: true, Fetched: 200, Total: 1050, Applied: 150, Unchanged: 40, Stale: 1, Errors: 9, StartedAt: &at})
	want := `{"running":true,"fetched":200,"total":1050,"applied":150,"unchanged":40,"stale":1,"errors":9,"started_at":"2026-11-30T09:00:00Z","finished_at":null,"since":null}`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
