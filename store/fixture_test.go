package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// storeDump is what the store API returns for a database: the
// migration test compares it with testdata/v1.golden.json.
type storeDump struct {
	Events    []*Event                 `json:"events"`
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
	if d.Events, _, err = db.FindEvents(ctx, LogFilter{Limit: MaxLimit}); err != nil {
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
	if d.Stats, err = db.Stats(ctx, fixtureSince); err != nil {
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

// TestWriteFixture writes testdata/v1.db and testdata/v1.golden.json when
// ROBAWS_WRITE_FIXTURE=1. It was run once, at the commit that added the
// fixture, with the schema 1 codecs.
func TestWriteFixture(t *testing.T) {
	if os.Getenv("ROBAWS_WRITE_FIXTURE") != "1" {
		t.Skip("set ROBAWS_WRITE_FIXTURE=1 to rewrite testdata/v1.db")
	}
	ctx := context.Background()
	tmp := filepath.Join(t.TempDir(), "v1.db")
	db, err := Open(tmp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
	s := func(v string) *string { return &v }
	must := func(res Result, err error) Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	sec := &Secret{Endpoint: "customers", WebhookID: "wh-1", URL: "https://edge.example.test/webhooks/customers",
		Events: []string{"client.created", "client.updated"}, Value: "whsec_FAKE_fixture_not_a_real_secret_0001"}
	if err := db.CreateSecret(ctx, sec); err != nil {
		t.Fatal(err)
	}
	old := &Secret{Endpoint: "customers", WebhookID: "wh-0", URL: "https://edge.example.test/webhooks/customers",
		Events: []string{"client.updated"}, Value: "whsec_FAKE_fixture_not_a_real_secret_0000"}
	if err := db.CreateSecret(ctx, old); err != nil {
		t.Fatal(err)
	}
	old.ExpiresAt = time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	if err := db.UpdateSecret(ctx, old); err != nil {
		t.Fatal(err)
	}

	v := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	raw1 := `{"id":101,"name":"Janssens & Zonen <BV>","extraFields":{"ROLE":{"stringValue":"BROKER"}},"tags":[1,2,{"x":null}]}`
	c1 := &Customer{ID: "101", Name: "Janssens & Zonen <BV>", Email: s("info@janssens.example"), Phone: s("+32 3 123 45 67"),
		VATNumber: s("BE0123456789"), Address: Address{Street: s("Meir"), StreetNumber: s("1"), PostalCode: s("2000"),
			City: s("Antwerpen"), Country: s("België"), CountryCode: s("BE")},
		Role: s("BROKER"), PricingCode: s("P1"), Language: s("nl"), Currency: "EUR", IsActive: true, Version: v, Raw: json.RawMessage(raw1)}
	first := must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "evt-101-1", ClientID: "101",
		ReceivedAt: clock, DurationUS: 812, SignatureTimestamp: v.Unix(), RemoteAddr: "203.0.113.7", SecretID: "1",
		Payload: []byte(`{"event":"client.created","id":"evt-101-1","data":` + raw1 + `}`), Customer: c1}))
	// The same delivery twice more: counted on the first entry.
	for range 2 {
		if res := must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "evt-101-1", ClientID: "101",
			Payload: []byte(`{}`), Customer: c1})); res.Status != StatusDuplicate || res.LogID != first.LogID {
			t.Fatalf("got %+v, want duplicate of %d", res, first.LogID)
		}
	}
	c1b := *c1
	c1b.Role, c1b.Phone, c1b.Mobile = s("FORWARDER"), s("+32 3 765 43 21"), s("+32 470 00 00 01")
	c1b.Address.Street, c1b.Address.StreetNumber, c1b.Address.PostalCode = s("Noorderlaan"), s("133"), s("2030")
	c1b.Version = v.Add(time.Hour)
	c1b.Raw = json.RawMessage(`{"id":101,"name":"Janssens & Zonen <BV>","extraFields":{"ROLE":{"stringValue":"FORWARDER"}}}`)
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-101-2", ClientID: "101",
		DurationUS: 640, SignatureTimestamp: c1b.Version.Unix(), RemoteAddr: "203.0.113.7", SecretID: "1",
		Payload: []byte(`{"event":"client.updated","id":"evt-101-2"}`), Customer: &c1b}))
	// An older version arriving late: stale.
	c1c := *c1
	c1c.Name, c1c.Version = "Janssens (old)", v.Add(30*time.Minute)
	if res := must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-101-0", ClientID: "101",
		SecretID: "2", Payload: []byte(`{"event":"client.updated","id":"evt-101-0"}`), Customer: &c1c})); res.Status != StatusStale {
		t.Fatalf("got %q, want stale", res.Status)
	}
	c2 := &Customer{ID: "102", Name: "Müller Spedition GmbH", Email: s("dispo@mueller.example"), Mobile: s("+49 151 0000000"),
		Address: Address{Line1: s("Hafenstraße 5"), City: s("Köln"), CountryCode: s("DE")}, Role: s("CARRIER"),
		Currency: "EUR", Website: s("https://mueller.example"), ClientType: s("company"), IsActive: true, Version: v.Add(2 * time.Hour),
		Raw: json.RawMessage(`{"id":102,"name":"Müller Spedition GmbH","notes":"line\nbreak \u2028 tab\t"}`)}
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "evt-102-1", ClientID: "102",
		SecretID: "1", Payload: []byte(`{"event":"client.created"}`), Customer: c2}))
	// Decided before storing: failed, ignored, rejected.
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-103-1", ClientID: "103",
		Status: StatusFailed, Error: "mapping: data.id missing", SecretID: "1", Payload: []byte(`{"event":"client.updated","data":{}}`)}))
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "project.updated", EventID: "evt-p-1",
		Status: StatusIgnored, SecretID: "1", Payload: []byte(`{"event":"project.updated"}`)}))
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-bad-1", RemoteAddr: "198.51.100.9",
		Status: StatusRejected, Error: "signature mismatch", Payload: []byte("{\"event\":\"client.updated\",\"bad\":\"\xff\"}"),
		SignatureHeader: "t=1772359200,v1=0000000000000000000000000000000000000000000000000000000000000000"}))
	// A sync: one new customer without optional fields, one unchanged.
	if _, _, _, err := db.ApplyCustomers(ctx, []*Customer{
		{ID: "104", Name: "Peeters", Currency: "EUR", Version: v.Add(3 * time.Hour), Raw: json.RawMessage(`{"id":104}`)},
		{ID: "105", Name: "Ørsted Logistics A/S", Email: s("ops@orsted.example"), Role: s("forwarder"), Currency: "DKK",
			Address: Address{City: s("København")}, Version: v.Add(3 * time.Hour), Raw: json.RawMessage(`{"id":105}`)},
		c2,
	}, SourceSync); err != nil {
		t.Fatal(err)
	}
	if err := db.SetLastSyncStarted(ctx, time.Date(2026, 3, 1, 10, 0, 20, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	// 105 deactivated by a webhook.
	c5 := &Customer{ID: "105", Name: "Ørsted Logistics A/S", Email: s("ops@orsted.example"), Role: s("FORWARDER"), Currency: "DKK",
		Address: Address{City: s("København")}, Version: v.Add(4 * time.Hour), Raw: json.RawMessage(`{"id":105,"active":false}`)}
	must(db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "evt-105-2", ClientID: "105",
		SecretID: "1", Payload: []byte(`{"event":"client.updated"}`), Customer: c5}))

	want := dumpStore(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/v1.db", data, 0o644); err != nil {
		t.Fatal(err)
	}
	golden, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/v1.golden.json", append(golden, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
