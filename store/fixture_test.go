package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// storeDump is what the store API returns for a database: the
// migration test compares it with testdata/v1.golden.json. That file and
// testdata/v1.db were written by TestWriteFixture at commit 46d2eef, with
// the schema 1 codecs (git show 46d2eef:store/fixture_test.go).
type storeDump struct {
	Events    []*LogEntry              `json:"events"`
	Payloads  map[string]StoredPayload `json:"payloads"`
	Customers []*Customer              `json:"customers"`
	History   []dumpHistory            `json:"history"`
	ByCust    map[string][]dumpHistory `json:"history_by_customer"`
	Secrets   []*Secret                `json:"secrets"`
	Stats     *Stats                   `json:"stats"`
	LastSync  time.Time                `json:"last_sync_started"`
	Search    map[string][]string      `json:"search"`
}

// dumpHistory is a history entry with its sequence, which HistoryEntry's
// JSON leaves out.
type dumpHistory struct {
	Seq uint64 `json:"seq"`
	*HistoryEntry
}

// fixtureSince is the Since of the dumped stats: it splits the fixture's
// deliveries into older and recent ones.
var fixtureSince = time.Date(2026, 3, 1, 10, 0, 9, 0, time.UTC)

// dumpStore reads everything the API serves from db.
func dumpStore(t *testing.T, db *DB) *storeDump {
	t.Helper()
	ctx := context.Background()
	d := &storeDump{Payloads: map[string]StoredPayload{}, ByCust: map[string][]dumpHistory{}, Search: map[string][]string{}}
	var err error
	if d.Events, _, err = db.FindLogEntries(ctx, LogFilter{Limit: MaxLimit}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range d.Events {
		p, err := db.FindPayload(ctx, ev.ID)
		if err == nil {
			d.Payloads[fmt.Sprint(ev.ID)] = p
		}
	}
	list, _, err := db.FindCustomers(ctx, CustomerFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		full, err := db.FindCustomerByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		d.Customers = append(d.Customers, full)
		hs, _, err := db.FindHistory(ctx, HistoryFilter{CustomerID: c.ID, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			d.ByCust[c.ID] = append(d.ByCust[c.ID], dumpHistory{h.Seq, h})
		}
	}
	hs, _, err := db.FindHistory(ctx, HistoryFilter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		d.History = append(d.History, dumpHistory{h.Seq, h})
	}
	if d.Secrets, err = db.FindSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Stats, err = db.Stats(ctx, fixtureSince, false); err != nil {
		t.Fatal(err)
	}
	if d.LastSync, err = db.LastSyncStarted(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "antwerp", "janssens", "+32", "forwarder", "ö"} {
		cs, _, err := db.FindCustomers(ctx, CustomerFilter{Q: q, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		d.Search[q] = ids
	}
	return d
}
