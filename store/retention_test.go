package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

func openRetentionDB(tb testing.TB, opts store.Options) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "robaws-edge.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func ingestAll(tb testing.TB, db *store.DB, ds []*store.Delivery) []store.Result {
	tb.Helper()
	out := make([]store.Result, len(ds))
	var wg sync.WaitGroup
	errs := make(chan error, len(ds))
	for i, d := range ds {
		wg.Go(func() {
			res, err := db.Ingest(context.Background(), d)
			if err != nil {
				errs <- err
			}
			out[i] = res
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return out
}

// delivery makes a delivery of the given kind received at t.
func retentionDelivery(kind string, i int, t time.Time) *store.Delivery {
	d := &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprintf("%s-%d", kind, i),
		ClientID: fmt.Sprint(i % 10), ReceivedAt: t, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	switch kind {
	case "processed":
		name := fmt.Sprintf("Customer %d", i)
		d.Record = customerRecord(&store.Customer{ID: d.ClientID, Name: name, Currency: "EUR", IsActive: true, Version: t})
	case "failed":
		d.Status, d.Error = store.StatusFailed, "bad"
	case "ignored":
		d.Status, d.Event = store.StatusIgnored, "client.deleted"
	case "rejected":
		d.Status, d.Error, d.SignatureHeader = store.StatusRejected, "signature mismatch", "t=1,v1=00"
		d.Payload = []byte(strings.Repeat("x", 100))
	}
	return d
}

// TestPruneEvents prunes with an injected clock: entries older than max_age
// go with everything kept for them; customers and history stay.
func TestPruneEvents(t *testing.T) {
	db := openRetentionDB(t, store.Options{QuarantineMaxBytes: 1000})
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return t0 }
	maxAge := 90 * 24 * time.Hour
	kinds := []string{"processed", "failed", "ignored", "rejected"}

	// More old entries than one pruning transaction takes.
	var old []*store.Delivery
	for i := range 2600 {
		old = append(old, retentionDelivery(kinds[i%4], i, t0.Add(-100*24*time.Hour).Add(time.Duration(i)*time.Millisecond)))
	}
	old = append(old, retentionDelivery("failed", 9000, t0.Add(-maxAge-time.Hour)))
	oldRes := ingestAll(t, db, old)
	// Keys follow arrival, so received_at must too (as it does live).
	kept := []*store.Delivery{retentionDelivery("failed", 9001, t0.Add(-maxAge+time.Hour))}
	keptRes := ingestAll(t, db, kept)
	var recent []*store.Delivery
	for i := range 8 {
		recent = append(recent, retentionDelivery(kinds[i%4], 10000+i, t0.Add(-24*time.Hour)))
	}
	keptRes = append(keptRes, ingestAll(t, db, recent)...)
	kept = append(kept, recent...)
	customersBefore := db.CustomerCount()
	history, _, err := db.FindHistory(context.Background(), store.HistoryFilter{Limit: store.MaxLimit})
	if err != nil || len(history) == 0 {
		t.Fatalf("history before: %d entries, %v", len(history), err)
	}

	if n, _, err := db.PruneEvents(context.Background(), 0); n != 0 || err != nil {
		t.Fatalf("PruneEvents(0) = %d, %v; want nothing deleted", n, err)
	}
	n, _, err := db.PruneEvents(context.Background(), maxAge)
	if err != nil || n != len(old) {
		t.Fatalf("PruneEvents = %d, %v; want %d", n, err, len(old))
	}

	for _, r := range oldRes {
		if _, err := db.FindLogEntry(context.Background(), r.LogID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old entry %d: %v, want ErrNotFound", r.LogID, err)
		}
		if _, err := db.FindPayload(context.Background(), r.LogID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("payload of old entry %d: %v, want ErrNotFound", r.LogID, err)
		}
	}
	all, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Limit: store.MaxLimit})
	if err != nil || len(all) != len(kept) {
		t.Fatalf("log holds %d entries (%v), want %d", len(all), err, len(kept))
	}
	for _, r := range keptRes {
		if _, err := db.FindLogEntry(context.Background(), r.LogID); err != nil {
			t.Errorf("kept entry %d: %v", r.LogID, err)
		}
	}
	// The status index and the counters know only the kept entries.
	wantStatus := map[string]int64{"processed": 2, "failed": 3, "ignored": 2, "rejected": 2}
	for status, want := range wantStatus {
		evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Status: status, Limit: store.MaxLimit})
		if err != nil || int64(len(evs)) != want {
			t.Errorf("status %s lists %d entries (%v), want %d", status, len(evs), err, want)
		}
	}
	s, err := db.Stats(context.Background(), t0.Add(-48*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != int64(len(kept)) || s.ByEvent["client.updated"] != 5 || s.ByEvent["client.deleted"] != 2 || s.RecentTotal != 8 {
		t.Errorf("stats = %+v", s)
	}
	for status, want := range wantStatus {
		if s.ByStatus[status] != want {
			t.Errorf("stats by_status[%s] = %d, want %d", status, s.ByStatus[status], want)
		}
	}

	// Customers and history stay.
	if got := db.CustomerCount(); got != customersBefore {
		t.Errorf("customers = %d, want %d", got, customersBefore)
	}
	after, _, err := db.FindHistory(context.Background(), store.HistoryFilter{Limit: store.MaxLimit})
	if err != nil || len(after) != len(history) {
		t.Errorf("history has %d entries (%v), want %d", len(after), err, len(history))
	}

	// De-duplication keys went with their entries; kept ones still work.
	again := ingestAll(t, db, []*store.Delivery{retentionDelivery("failed", 1, t0), retentionDelivery("failed", 9001, t0)})
	if again[0].Status != "failed" || again[0].LogID == oldRes[1].LogID {
		t.Errorf("redelivery of a pruned event = %+v, want a new entry", again[0])
	}
	if again[1].Status != "duplicate" || again[1].LogID != keptRes[0].LogID {
		t.Errorf("redelivery of a kept event = %+v, want duplicate of %d", again[1], keptRes[0].LogID)
	}

	// The quarantine's byte count shrank with the pruned payloads: new
	// rejected payloads that fit together all stay.
	var fresh []*store.Delivery
	for i := range 7 {
		fresh = append(fresh, retentionDelivery("rejected", 20000+i, t0))
	}
	for _, r := range ingestAll(t, db, fresh) {
		if _, err := db.FindPayload(context.Background(), r.LogID); err != nil {
			t.Errorf("rejected payload %d dropped after pruning: %v", r.LogID, err)
		}
	}
}

// TestPruneEventsStopsWithContext returns early when ctx ends.
func TestPruneEventsStopsWithContext(t *testing.T) {
	db := openRetentionDB(t, store.Options{})
	t0 := time.Now()
	ingestAll(t, db, []*store.Delivery{retentionDelivery("failed", 1, t0.Add(-48*time.Hour))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, _, err := db.PruneEvents(ctx, time.Hour); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("PruneEvents = %d, %v; want 0, context.Canceled", n, err)
	}
}

// customerRecord prepares c as the receiver does before Ingest.
func customerRecord(c *store.Customer) *store.Record {
	r, err := store.PrepareCustomer(c)
	if err != nil {
		panic(err)
	}
	return r
}

// TestPruneDaily: the first pass runs at once and reports what it deleted;
// cancelling ends the loop; a maxAge <= 0 never prunes.
func TestPruneDaily(t *testing.T) {
	db := openRetentionDB(t, store.Options{})
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return t0 }
	var ds []*store.Delivery
	for i := range 5 {
		ds = append(ds, retentionDelivery("processed", i, t0.Add(-48*time.Hour)))
	}
	ingestAll(t, db, ds)
	// Keys follow arrival, so the recent one arrives last (as it does live).
	ingestAll(t, db, []*store.Delivery{retentionDelivery("failed", 9, t0.Add(-time.Hour))})

	db.PruneDaily(context.Background(), 0, func(int, int, error) { t.Error("maxAge 0 pruned") })

	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan [2]int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.PruneDaily(ctx, 24*time.Hour, func(n, held int, err error) {
			if err != nil {
				t.Error(err)
			}
			reports <- [2]int{n, held}
		})
	}()
	select {
	case r := <-reports:
		if r != [2]int{5, 0} {
			t.Errorf("first pass deleted/held %v, want [5 0]", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no first pass")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("PruneDaily did not return after cancel")
	}
	entries, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Limit: store.MaxLimit})
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries left %d (%v), want the recent one", len(entries), err)
	}
}
