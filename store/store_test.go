package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MustOpenDB opens a database in a temp dir, closed at cleanup.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "robaws-edge.db"), Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpenModeAndInUse(t *testing.T) {
	db := MustOpenDB(t)
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	start := time.Now()
	_, err = Open(db.Path(), Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("second Open took %v, want it to fail fast", time.Since(start))
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestGroupRetriesWithoutFailingFn checks that one failing function in a
// group does not lose the others, which run again and commit once.
func TestGroupRetriesWithoutFailingFn(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.group(ctx, func(tx *bolt.Tx, _ *counters) error {
				b := tx.Bucket(bucketMeta)
				if err := b.Put([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom
				}
				_, err := tx.Bucket(bucketLogs).NextSequence()
				return err
			}, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%5 == 0 && !errors.Is(err, boom) || i%5 != 0 && err != nil {
			t.Fatalf("fn %d: err = %v", i, err)
		}
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for i := range errs {
			got := tx.Bucket(bucketMeta).Get([]byte(fmt.Sprint("k", i)))
			if (i%5 == 0) != (got == nil) {
				return fmt.Errorf("key k%d = %q after group", i, got)
			}
		}
		// 16 successful functions each took one sequence number, once.
		if seq := tx.Bucket(bucketLogs).Sequence(); seq != 16 {
			return fmt.Errorf("sequence = %d, want 16", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIngestAfterCloseFails(t *testing.T) {
	db := MustOpenDB(t)
	db.Close()
	_, err := db.Ingest(context.Background(), &Delivery{Endpoint: "customers", EventID: "e"})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Ingest after Close: %v, want ErrClosed", err)
	}
}

func strp2(s string) *string { return &s }

// TestCustomerHistoryChain checks history per customer is newest first,
// pages with a cursor, and does not mix customers.
func TestCustomerHistoryChain(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		for _, id := range []string{"A", "B"} {
			c := &Customer{ID: id, Name: fmt.Sprint(id, i), Email: strp2("x@y"), Currency: "EUR", IsActive: true, Version: base.Add(time.Duration(i) * time.Hour)}
			res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint(id, i), ClientID: id, Record: prepared(c)})
			if err != nil || res.Status != StatusProcessed {
				t.Fatalf("ingest %s%d: %+v %v", id, i, res, err)
			}
		}
	}
	var names []string
	cursor := ""
	for {
		page, next, err := db.FindHistory(ctx, HistoryFilter{CustomerID: "B", Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.CustomerID != "B" {
				t.Fatalf("history of B has an entry of %s", e.CustomerID)
			}
			names = append(names, fmt.Sprint(e.Changes["name"].To))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if want := "[B5 B4 B3 B2 B1 B0]"; fmt.Sprint(names) != want {
		t.Fatalf("history names = %v, want %s", names, want)
	}
	if _, _, err := db.FindHistory(ctx, HistoryFilter{CustomerID: "nobody"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown customer: %v, want ErrNotFound", err)
	}
	// A stale version changes nothing and adds no history.
	old := &Customer{ID: "A", Name: "old", Version: base}
	if res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "A-old", Record: prepared(old)}); err != nil || res.Status != StatusStale {
		t.Fatalf("stale: %+v %v", res, err)
	}
	if c, _ := db.FindCustomerByID(ctx, "A"); c.Name != "A5" {
		t.Fatalf("name after stale = %q, want A5", c.Name)
	}
}

// TestFindEventsCursorWalk pages through every entry once, with and
// without a status filter.
func TestFindEventsCursorWalk(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	for i := range 95 {
		d := &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("e", i), ClientID: fmt.Sprint("c", i%3)}
		if i%4 == 0 {
			d.Status, d.Error = StatusFailed, "bad"
		}
		if _, err := db.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []LogFilter{{Limit: 10}, {Status: StatusFailed, Limit: 7}, {ClientID: "c1", Limit: 5}} {
		seen := map[uint64]bool{}
		last := uint64(1 << 62)
		for {
			page, next, err := db.FindLogEntries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page {
				if seen[ev.ID] || ev.ID >= last {
					t.Fatalf("filter %+v: entry %d repeated or out of order", f, ev.ID)
				}
				seen[ev.ID], last = true, ev.ID
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		want := map[string]int{"": 95, StatusFailed: 24}[f.Status]
		if f.ClientID != "" {
			want = 32
		}
		if len(seen) != want {
			t.Fatalf("filter %+v: walked %d entries, want %d", f, len(seen), want)
		}
	}
}

// TestIndexFollowsCommitOrder sends two updates of each customer at once;
// whatever order they commit in, the search index must show what the file
// holds.
func TestIndexFollowsCommitOrder(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 300 {
		for v, name := range []string{"alpha", "bravo"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &Customer{ID: fmt.Sprint("C", i), Name: fmt.Sprintf("%s-%d-x", name, i), Currency: "EUR", IsActive: true, Version: base.Add(time.Duration(v) * time.Second)}
				if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint(name, i), Record: prepared(c)}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for i := range 300 {
		stored, err := db.FindCustomerByID(ctx, fmt.Sprint("C", i))
		if err != nil || stored.Name != fmt.Sprintf("bravo-%d-x", i) {
			t.Fatalf("customer C%d = %+v (%v), want the newer name", i, stored, err)
		}
		found, _, err := db.FindCustomers(ctx, CustomerFilter{Q: stored.Name})
		if err != nil || len(found) != 1 || found[0].ID != stored.ID {
			t.Fatalf("search %q found %d customers (%v), want C%d", stored.Name, len(found), err, i)
		}
	}
}

// fullDB opens a store that may not grow past the size of a new file and
// ingests 256 KiB deliveries into it until a commit fails; it returns the
// store and that failure (nil when none failed).
func fullDB(t *testing.T) (*DB, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "full.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	size := db.Size()
	db.Close()
	db, err = Open(path, Options{MaxSize: int(size)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	big := make([]byte, 256<<10)
	var failed error
	for i := 0; i < 50 && failed == nil; i++ {
		_, failed = db.Ingest(context.Background(), &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("e", i), Payload: big})
	}
	return db, failed
}

// TestCommitFailure makes the commit itself fail (the file may not grow):
// the caller gets an error and nothing of the delivery is stored.
func TestCommitFailure(t *testing.T) {
	db, failed := fullDB(t)
	ctx := context.Background()
	if failed == nil {
		t.Fatal("no commit failed although the file may not grow")
	}
	evs, _, err := db.FindLogEntries(ctx, LogFilter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if _, err := db.FindPayload(ctx, ev.ID); err != nil {
			t.Fatalf("entry %d lost its payload: %v", ev.ID, err)
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSyncKeepsProvenance: a sync that changes nothing keeps source and
// last_event_id; a replay at an equal version from another event is stale.
func TestSyncKeepsProvenanceAndReplayOrder(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	v := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	first := &Customer{ID: "7", Name: "First", Currency: "EUR", IsActive: true, Version: v}
	r1, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-1", Record: prepared(first)})
	if err != nil {
		t.Fatal(err)
	}
	second := &Customer{ID: "7", Name: "Second", Currency: "EUR", IsActive: true, Version: v}
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-2", Record: prepared(second)}); err != nil {
		t.Fatal(err)
	}
	same := &Customer{ID: "7", Name: "Second", Currency: "EUR", IsActive: true, Version: v.Add(time.Hour)}
	if _, _, _, err := db.ApplyCustomers(ctx, []*Customer{same}, SourceSync); err != nil {
		t.Fatal(err)
	}
	c, _ := db.FindCustomerByID(ctx, "7")
	if c.Source != SourceWebhook || c.LastEventID != "evt-2" || !c.Version.Equal(v.Add(time.Hour)) {
		t.Fatalf("after an unchanged sync: source %q last_event_id %q version %v", c.Source, c.LastEventID, c.Version)
	}
	// Replaying evt-1 (same second as evt-2, now older than the sync) must
	// not roll the name back.
	res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-1", Record: prepared(&Customer{ID: "7", Name: "First", Currency: "EUR", IsActive: true, Version: v.Add(time.Hour)}), Source: SourceReplay, ReplayOf: r1.LogID})
	if err != nil || res.Status != StatusStale {
		t.Fatalf("replay at an equal version: %+v %v, want stale", res, err)
	}
	if c, _ := db.FindCustomerByID(ctx, "7"); c.Name != "Second" {
		t.Fatalf("name after replay = %q, want Second", c.Name)
	}
}

// TestDedupPerEndpoint: de-duplication is on (endpoint, event id): one
// event id sent to two endpoints is two deliveries; a repeat on either is
// a duplicate of its own endpoint's entry.
func TestDedupPerEndpoint(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	ingest := func(endpoint string) Result {
		t.Helper()
		res, err := db.Ingest(ctx, &Delivery{Endpoint: endpoint, Event: "client.updated", EventID: "same-id", Status: StatusIgnored})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := ingest("customers"), ingest("articles")
	if a.Status != StatusIgnored || b.Status != StatusIgnored || a.LogID == b.LogID {
		t.Fatalf("two endpoints: %+v and %+v, want two entries", a, b)
	}
	if r := ingest("articles"); r.Status != StatusDuplicate || r.LogID != b.LogID {
		t.Fatalf("repeat on articles: %+v, want duplicate of %d", r, b.LogID)
	}
	if r := ingest("customers"); r.Status != StatusDuplicate || r.LogID != a.LogID {
		t.Fatalf("repeat on customers: %+v, want duplicate of %d", r, a.LogID)
	}
}

// prepared prepares c as the receiver does before Ingest.
func prepared(c *Customer) *Record {
	r, err := PrepareCustomer(c)
	if err != nil {
		panic(err)
	}
	return r
}

// TestLastAccepted: the newest accepted delivery is the newest entry of an
// accepted status, or the newest repeat of an older entry (Robaws retrying
// an event it sent before gets through too); a rejected one never counts.
func TestLastAccepted(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration, id, status string) {
		t.Helper()
		db.Now = func() time.Time { return t0.Add(d) }
		if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: id, Status: status, ReceivedAt: t0.Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(d time.Duration) {
		t.Helper()
		if last, ok, err := db.LastAccepted(ctx); err != nil || !ok || !last.Equal(t0.Add(d)) {
			t.Fatalf("last accepted = %v %v %v, want %v", last, ok, err, t0.Add(d))
		}
	}
	if _, ok, err := db.LastAccepted(ctx); ok || err != nil {
		t.Fatalf("empty: ok %v, %v", ok, err)
	}
	at(0, "e1", StatusIgnored)
	at(time.Minute, "e2", StatusIgnored)
	want(time.Minute)
	at(2*time.Minute, "e1", StatusIgnored) // a repeat of the older entry
	want(2 * time.Minute)
	at(3*time.Minute, "bad", StatusRejected)
	want(2 * time.Minute)
	at(4*time.Minute, "e3", StatusIgnored)
	want(4 * time.Minute)
}
