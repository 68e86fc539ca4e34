package robaws_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// budgetEnv is a syncer whose client keeps its budget in a real store,
// against a fake Robaws that announces a daily budget on every answer.
type budgetEnv struct {
	path   string
	db     *store.DB
	fake   *fakeRobaws
	client *robaws.Client
	syncer *robaws.Syncer
	logs   *syncBuffer
}

func newBudgetEnv(t *testing.T, clients int, reserve int) *budgetEnv {
	t.Helper()
	e := &budgetEnv{path: filepath.Join(t.TempDir(), "robaws-edge.db"), fake: newFakeRobaws(t), logs: &syncBuffer{}}
	e.fake.dailyLimit = 10000
	e.fake.clients = makeClients(1, clients, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))
	e.open(t, reserve)
	return e
}

// open (re)opens the store and builds a client and syncer over it.
func (e *budgetEnv) open(t *testing.T, reserve int) {
	t.Helper()
	db, err := store.Open(e.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { db.Close() })
	e.client, _ = newTestRobaws(t, e.fake, func(c *robaws.Config) {
		c.ReadReplica, c.DailyReserve, c.DB = true, reserve, db
	})
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	e.syncer = robaws.NewSyncer(db, e.client, robaws.SyncerConfig{Map: testMap, Logger: logger})
	t.Cleanup(func() { e.syncer.Close() })
}

func TestSyncReadsFromReplicaAndKeepsBudget(t *testing.T) {
	e := newBudgetEnv(t, 250, 1000)
	if _, err := e.syncer.Run(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	gets := e.fake.Requests("GET", "/api/v2/clients")
	if len(gets) != 3 {
		t.Fatalf("%d client pages fetched, want 3", len(gets))
	}
	for i, r := range gets {
		if r.DatabaseMode != "replica" {
			t.Errorf("GET %d: Database-Mode %q, want replica", i, r.DatabaseMode)
		}
	}
	if _, err := e.client.RegisterWebhook(context.Background(), "https://edge.example/hook", []string{"client.updated"}); err != nil {
		t.Fatal(err)
	}
	if r := e.fake.Requests("POST", "/api/v2/webhook-endpoints"); len(r) != 1 || r[0].DatabaseMode != "" {
		t.Fatalf("registration requests %+v, want one on the live database", r)
	}
	b, ok := e.client.Budget(robaws.ModeReplica)
	if !ok || b.DailyLimit != 10000 || b.DailyRemaining != 9997 || b.SecondRemaining != 14 || b.DailyResetAt.IsZero() {
		t.Fatalf("replica budget = %+v (%v), want limit 10000, remaining 9997", b, ok)
	}
	if live, ok := e.client.Budget(robaws.ModeLive); !ok || live.DailyRemaining != 9999 {
		t.Fatalf("live budget = %+v (%v), want remaining 9999", live, ok)
	}

	// A restart knows the last budget before sending anything.
	e.syncer.Close()
	e.db.Close()
	e.open(t, 1000)
	b2, ok := e.client.Budget(robaws.ModeReplica)
	if !ok || b2.DailyRemaining != 9997 || !b2.DailyResetAt.Equal(b.DailyResetAt) {
		t.Fatalf("budget after restart = %+v (%v), want %+v", b2, ok, b)
	}
}

func TestSyncStopsBelowDailyReserve(t *testing.T) {
	e := newBudgetEnv(t, 500, 1000)
	e.fake.remaining["replica"] = 900 // another integration spent most of the day
	_, err := e.syncer.Run(context.Background(), time.Time{})
	var berr *robaws.BudgetError
	if !errors.Is(err, robaws.ErrBudgetLow) || !errors.As(err, &berr) || !strings.Contains(err.Error(), "daily") || !strings.Contains(err.Error(), "resets at") {
		t.Fatalf("sync error = %v, want the daily budget and its reset", err)
	}
	if n := len(e.fake.Requests("GET", "/api/v2/clients")); n > 1 {
		t.Fatalf("the sync spent %d requests below the reserve, want at most 1", n)
	}
	if berr.Budget.DailyRemaining != 899 || berr.Reserve != 1000 {
		t.Fatalf("budget error %+v", berr)
	}
	// A second sync spends nothing: the budget is known to be low.
	if _, err := e.syncer.Run(context.Background(), time.Time{}); !errors.Is(err, robaws.ErrBudgetLow) {
		t.Fatalf("second sync: %v, want ErrBudgetLow", err)
	}
	if n := len(e.fake.Requests("GET", "/api/v2/clients")); n != 1 {
		t.Fatalf("requests after the second sync = %d, want still 1", n)
	}
	if err := e.client.BudgetLow(); err == nil {
		t.Fatal("BudgetLow = nil, want the low budget")
	}
	// Registration is never held back.
	if _, err := e.client.RegisterWebhook(context.Background(), "https://edge.example/hook", []string{"client.updated"}); err != nil {
		t.Fatalf("register below the reserve: %v", err)
	}
}

func TestDailyLimit429NotRetried(t *testing.T) {
	e := newBudgetEnv(t, 10, 0)
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("X-RateLimit-Daily-Remaining", "0")
		http.Error(w, `{"message":"daily request limit reached"}`, http.StatusTooManyRequests)
		return true
	})
	_, err := e.syncer.Run(context.Background(), time.Time{})
	if !errors.Is(err, robaws.ErrBudgetLow) || !strings.Contains(err.Error(), "daily") {
		t.Fatalf("sync error = %v, want the daily budget used up", err)
	}
	if n := len(e.fake.Requests("GET", "/api/v2/clients")); n != 1 {
		t.Fatalf("%d requests, want 1: a used-up day is not retried", n)
	}
}

func TestUpdatedFromRefusedRunsFull(t *testing.T) {
	e := newBudgetEnv(t, 150, 0)
	e.fake.refuseUpdatedFrom = true
	since := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	p, err := e.syncer.Run(context.Background(), since)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched != 150 || p.Applied != 150 || p.Since != nil {
		t.Fatalf("progress = %+v, want a full sync of 150", p)
	}
	var withSince int
	for _, r := range e.fake.Requests("GET", "/api/v2/clients") {
		if _, ok := r.Query["updatedFrom"]; ok {
			withSince++
		}
	}
	if withSince != 1 {
		t.Fatalf("%d requests with updatedFrom, want the one refused", withSince)
	}
	// Remembered (in the store): a later incremental sync, even after a
	// restart, goes full at once, with no warning.
	e.syncer.Close()
	e.db.Close()
	e.open(t, 0)
	before := len(e.fake.Requests("GET", "/api/v2/clients"))
	if _, err := e.syncer.Run(context.Background(), since); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests("GET", "/api/v2/clients")[before:]
	for _, r := range reqs {
		if _, ok := r.Query["updatedFrom"]; ok {
			t.Fatalf("a later sync sent updatedFrom again: %+v", r.Query)
		}
	}
	if n := strings.Count(e.logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, e.logs.String())
	}
}
