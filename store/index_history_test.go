package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// historySeqs pages through FindHistory with f and returns the sequences
// in the order served.
func historySeqs(t *testing.T, db *DB, f HistoryFilter) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		page, next, err := db.FindHistory(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			seqs = append(seqs, e.Seq)
		}
		if next == "" {
			return seqs
		}
		f.Cursor = next
	}
}

// changedSeqs is the reference for a field filter: every history entry,
// newest first, kept when it changed field.
func changedSeqs(t *testing.T, db *DB, field string) []uint64 {
	t.Helper()
	var want []uint64
	all, _, err := db.FindHistory(context.Background(), HistoryFilter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	f := HistoryFilter{Limit: MaxLimit}
	for len(all) > 0 {
		for _, e := range all {
			if _, ok := e.Changes[field]; ok {
				want = append(want, e.Seq)
			}
		}
		f.Cursor = fmt.Sprint(all[len(all)-1].Seq)
		if all, _, err = db.FindHistory(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// TestFieldIndexBlocks fills the field index over several blocks and
// checks every field's walk, paged, against a filter of the whole history.
func TestFieldIndexBlocks(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	s := func(v string) *string { return &v }
	version := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// 30 rounds of 100 customers: 3,000 entries, three blocks. Every round
	// changes the email, every third the city, every fourth the phone;
	// the role changes in rounds 0 and 29 only, so its walk crosses a
	// block with no key for it.
	for round := range 30 {
		cs := make([]*Customer, 100)
		for i := range cs {
			version = version.Add(time.Second)
			c := &Customer{ID: fmt.Sprint("c", i), Name: fmt.Sprint("Customer ", i), Currency: "EUR", IsActive: true, Version: version}
			c.Email = s(fmt.Sprintf("c%d-%d@example.com", i, round))
			c.Phone = s(fmt.Sprint("+3291", round/4))
			c.Address.City = s(fmt.Sprint("City ", round/3))
			c.Role = s("BROKER")
			if round == 29 && i%7 == 0 {
				c.Role = s("FORWARDER")
			}
			cs[i] = c
		}
		if _, _, _, err := db.ApplyCustomers(ctx, cs, SourceSync); err != nil {
			t.Fatal(err)
		}
	}
	all := historySeqs(t, db, HistoryFilter{Limit: MaxLimit})
	if len(all) < 2*histBlock+1 {
		t.Fatalf("got %d history entries, want over two blocks", len(all))
	}
	for _, field := range []string{"email", "address.city", "role", "name", "phone"} {
		want := changedSeqs(t, db, field)
		for _, limit := range []int{7, 100, MaxLimit} {
			got := historySeqs(t, db, HistoryFilter{Field: field, Limit: limit})
			if !slices.Equal(got, want) {
				t.Fatalf("field %s, limit %d: got %d entries %v…, want %d %v…", field, limit, len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
			}
		}
	}
	// The newest role change is customer c98's in the last round, one
	// before the newest entry (c99's).
	if got := historySeqs(t, db, HistoryFilter{Field: "role", Limit: 10}); len(got) != 115 || got[0] != all[0]-1 {
		t.Errorf("role: got %d entries starting %v, want the 15 of the last round and the 100 of the first", len(got), got[:min(3, len(got))])
	}
	// The walk itself yields exactly the entries that changed the field
	// (FindHistory checks each entry again, which would hide extra ones).
	err := db.view(func(tx *bolt.Tx) error {
		for _, field := range []string{"email", "role", "phone"} {
			want := changedSeqs(t, db, field)
			got := slices.Collect(fieldWalk(tx.Bucket(bucketIdxHistField), field, 0, all[0]))
			if !slices.Equal(got, want) {
				return fmt.Errorf("fieldWalk(%s): got %d seqs, want %d", field, len(got), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A cursor past the newest entry starts at the newest, at once.
	page, _, err := db.FindHistory(ctx, HistoryFilter{Field: "role", Limit: 3, Cursor: "18446744073709551615"})
	if err != nil || len(page) != 3 || page[0].Seq != all[0]-1 {
		t.Fatalf("role from a huge cursor: %d entries (%v), want the newest 3", len(page), err)
	}
	// A cursor at a block boundary continues below it.
	boundary := uint64(2 * histBlock)
	got := historySeqs(t, db, HistoryFilter{Field: "email", Limit: 5, Cursor: fmt.Sprint(boundary)})
	want := slices.DeleteFunc(changedSeqs(t, db, "email"), func(seq uint64) bool { return seq >= boundary })
	if !slices.Equal(got, want) {
		t.Fatalf("email below %d: got %d entries, want %d", boundary, len(got), len(want))
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV3 opens testdata/v3.db, written by the schema 3 code with
// field-first index keys, and checks that schema 4 serves the same field
// filters from its own index.
func TestMigrateV3(t *testing.T) {
	path := copyFixture(t, "v3.db")
	var oldKeys int
	schema, _ := rawFile(t, path, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketIdxHistFieldV3); b != nil {
			oldKeys = b.Stats().KeyN
		}
		return nil
	})
	if schema != 3 || oldKeys == 0 {
		t.Fatalf("fixture: got schema %d with %d schema 3 field index keys, want schema 3 with some", schema, oldKeys)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's role changes: 303's update (seq 7), 301's (4), and the
	// creation of 302 (2) and 301 (1).
	if got := historySeqs(t, db, HistoryFilter{Field: "role", Limit: 2}); !slices.Equal(got, []uint64{7, 4, 2, 1}) {
		t.Errorf("role: got %v, want [7 4 2 1]", got)
	}
	for _, field := range []string{"email", "name", "phone", "address.city", "role"} {
		if got, want := historySeqs(t, db, HistoryFilter{Field: field}), changedSeqs(t, db, field); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("field %s: got %v, want %v", field, got, want)
		}
	}
	if n := len(historySeqs(t, db, HistoryFilter{})); n != 7 {
		t.Errorf("got %d history entries, want the fixture's 7", n)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	schema, _ = rawFile(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIdxHistFieldV3) != nil {
			return errors.New("schema 3's field index is still there")
		}
		if err := tx.DeleteBucket(bucketIdxHistFieldV3); !errors.Is(err, berrors.ErrBucketNotFound) {
			return fmt.Errorf("delete old bucket: %v", err)
		}
		return nil
	})
	if schema != SchemaVersion {
		t.Fatalf("got schema %d, want %d", schema, SchemaVersion)
	}
}
