package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"
)

// copyFixture copies testdata/name (v1.db, written by schema 1, or v3.db)
// into a temp dir.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawFile reads the schema version and the stored customer records of the
// closed file at path, and lets fn (when set) change the file.
func rawFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) (schema uint64, customers map[string][]byte) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	customers = map[string][]byte{}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		schema = btoi(tx.Bucket(bucketMeta).Get(keySchema))
		return tx.Bucket(bucketCustomers).ForEach(func(k, v []byte) error {
			customers[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema, customers
}

// goldenDump reads testdata/<name>.golden.json.
func goldenDump(t *testing.T, name string) *storeDump {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name + ".golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var d storeDump
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// dumpOpts compares raw client JSON by value: encoding/json compacts it
// and escapes <, > and &, so the bytes may differ from schema 1's. A
// history entry's Seq is compared as dumpHistory.Seq (JSON leaves out
// HistoryEntry.Seq).
var dumpOpts = cmp.Options{
	cmpopts.IgnoreUnexported(Customer{}),
	cmpopts.IgnoreFields(HistoryEntry{}, "Seq"),
	cmp.Transformer("rawJSON", func(m json.RawMessage) any {
		var v any
		if err := json.Unmarshal(m, &v); err != nil {
			return string(m)
		}
		return v
	}),
}

func TestMigrateV1(t *testing.T) {
	ctx := context.Background()
	path := copyFixture(t, "v1.db")
	schema, before := rawFile(t, path, nil)
	if schema != 1 || len(before) != 4 {
		t.Fatalf("fixture: got schema %d with %d customers, want schema 1 with 4", schema, len(before))
	}
	for id, v := range before {
		if _, err := decodeCustomerV1(v); err != nil || json.Valid(v) {
			t.Fatalf("fixture customer %s: got %v, valid JSON %v, want a schema 1 record", id, err, json.Valid(v))
		}
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := goldenDump(t, "v1")
	if diff := cmp.Diff(want, dumpStore(t, db), dumpOpts); diff != "" {
		t.Fatalf("after migration (-want +got):\n%s", diff)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	// The history's field index is built for the migrated history.
	for _, field := range []string{"name", "email", "address.city"} {
		if got, want := historySeqs(t, db, HistoryFilter{Field: field}), changedSeqs(t, db, field); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("field %s after migration: got %v, want %v", field, got, want)
		}
	}
	// A new delivery still de-duplicates against an old event id.
	res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "evt-101-1", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Status: StatusDuplicate, LogID: 1}) {
		t.Fatalf("redelivery: got %+v, want duplicate of log 1", res)
	}
	// And an update of an old customer chains onto its old history.
	old, err := db.FindCustomerByID(ctx, "104")
	if err != nil {
		t.Fatal(err)
	}
	city := "Brugge"
	old.Address.City, old.Version = &city, old.Version.Add(time.Hour)
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-104-2", Record: prepared(old)}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := db.FindHistory(ctx, HistoryFilter{CustomerID: "104"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[1].Seq != want.ByCust["104"][0].Seq {
		t.Fatalf("history of 104: got %d entries, want the new one and the migrated one", len(hs))
	}
	db.Close()

	schema, after := rawFile(t, path, nil)
	if schema != SchemaVersion {
		t.Fatalf("got schema %d, want %d", schema, SchemaVersion)
	}
	for id, v := range after {
		var c Customer
		if err := unmarshalCustomer(v, &c, true); err != nil || !json.Valid(v) {
			t.Fatalf("customer %s: got %v, want a JSON record", id, err)
		}
	}
	// Reopening does not migrate again: the records stay as they are.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := db.FindLogEntry(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Deliveries != 4 {
		t.Errorf("log 1: got %d deliveries, want 4", ev.Deliveries)
	}
	db.Close()
	if _, again := rawFile(t, path, nil); !cmp.Equal(after, again) {
		t.Fatalf("reopen rewrote customers:\n%s", cmp.Diff(after, again))
	}
}

// TestMigrateV1Atomic checks that a migration that fails half way leaves
// the file as schema 1 wrote it.
func TestMigrateV1Atomic(t *testing.T) {
	path := copyFixture(t, "v1.db")
	// "999" sorts after every fixture customer, so the others are
	// rewritten before the migration reaches it.
	_, before := rawFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCustomers).Put([]byte("999"), []byte{0x01, 0x05, '{', '"'})
	})
	_, err := Open(path, Options{})
	if err == nil {
		t.Fatal("got no error, want the damaged customer 999 reported")
	}
	if errors.Is(err, ErrInUse) {
		t.Fatal(err)
	}
	schema, after := rawFile(t, path, nil)
	if schema != 1 || !cmp.Equal(before, after) {
		t.Fatalf("got schema %d, customers changed %v, want the schema 1 file unchanged", schema, !cmp.Equal(before, after))
	}
}

// TestFileOfSchema4 opens testdata/v4.db, written by the code before the
// ingest path was reshaped (the family seam, the prepared records, the
// hand-written encodings), and reads back what that code read
// (v4.golden.json); the new write path then goes on from it.
func TestFileOfSchema4(t *testing.T) {
	ctx := context.Background()
	db, err := Open(copyFixture(t, "v4.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := goldenDump(t, "v4")
	if diff := cmp.Diff(want, dumpStore(t, db), dumpOpts); diff != "" {
		t.Fatalf("v4.db read back differently (-golden +now):\n%s", diff)
	}
	old, err := db.FindCustomerByID(ctx, "300")
	if err != nil {
		t.Fatal(err)
	}
	c := *old
	c.Name, c.Version = "Klant 300 renamed", old.Version.Add(time.Hour)
	if res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "ev-new", ClientID: "300", Record: prepared(&c)}); err != nil || res.Status != StatusProcessed {
		t.Fatalf("ingest on the old file: %+v %v", res, err)
	}
	got, err := db.FindCustomerByID(ctx, "300")
	if err != nil || got.Name != c.Name || !got.CreatedAt.Equal(old.CreatedAt) || got.LastEventID != "ev-new" {
		t.Fatalf("customer after the update: %+v %v", got, err)
	}
	hs, _, err := db.FindHistory(ctx, HistoryFilter{CustomerID: "300", Limit: MaxLimit})
	if err != nil || len(hs) != len(want.ByCust["300"])+1 || hs[0].Changes["name"].To != c.Name {
		t.Fatalf("history of 300: %d entries (%v), want the old %d and the new one first", len(hs), err, len(want.ByCust["300"]))
	}
}
