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
			errs[i] = db.group(ctx, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketMeta)
				if err := b.Put([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom
				}
				_, err := tx.Bucket(bucketLogs).NextSequence()
				return err
			})
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
			res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint(id, i), ClientID: id, Customer: c})
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
	if res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "A-old", Customer: old}); err != nil || res.Status != StatusStale {
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
			page, next, err := db.FindEvents(ctx, f)
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
