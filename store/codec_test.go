package store

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestCustomerRecordRoundTrip(t *testing.T) {
	s := func(v string) *string { return &v }
	c := &Customer{ID: "7", Name: "Café <&> \u2028", Email: s("a@example.com"), Address: Address{City: s("Gent")},
		Currency: "EUR", IsActive: true, Version: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Raw: json.RawMessage(`{"id":7,"nested":{"a":[1,2]}}`), historyHead: 42}
	data, err := marshalCustomer(c)
	if err != nil {
		t.Fatal(err)
	}
	var full, noRaw Customer
	if err := unmarshalCustomer(data, &full, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, &full, cmp.AllowUnexported(Customer{})); diff != "" {
		t.Errorf("with raw (-want +got):\n%s", diff)
	}
	if err := unmarshalCustomer(data, &noRaw, false); err != nil {
		t.Fatal(err)
	}
	want := *c
	want.Raw = nil
	if diff := cmp.Diff(&want, &noRaw, cmp.AllowUnexported(Customer{})); diff != "" {
		t.Errorf("without raw (-want +got):\n%s", diff)
	}
	// The API's JSON of a customer does not show the store's own fields.
	api, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(api, []byte("history_head")) || !bytes.Contains(data, []byte(`"history_head":42`)) {
		t.Errorf("got API JSON %s and record %s, want history_head only in the record", api, data)
	}
}

// TestCustomerRawInvalidUTF8: a raw with invalid UTF-8 is stored with
// U+FFFD for each invalid byte, and one stored that way before (written
// here straight into the bucket) reads back the same; either way the
// customer is valid JSON.
func TestCustomerRawInvalidUTF8(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	const want = "{\"id\":\"1\",\"na\uFFFDme\":\"a\uFFFD\uFFFDb\",\"ok\":\"\u00e9\u20ac\"}"
	raw := []byte("{\"id\":\"1\",\"na\xffme\":\"a\xe2\x82b\",\"ok\":\"\u00e9\u20ac\"}")
	if _, _, _, err := db.ApplyCustomers(ctx, []*Customer{{ID: "1", Name: "Applied", Raw: raw}}, SourceSync); err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCustomers).Get([]byte("1")); !utf8.Valid(v) {
			t.Errorf("stored record %q, want valid UTF-8", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old := &Customer{ID: "2", Name: "Stored before", Raw: bytes.Replace(raw, []byte(`"1"`), []byte(`"2"`), 1)}
	data, err := marshalCustomer(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCustomers).Put([]byte("2"), data) }); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2"} {
		c, err := db.FindCustomerByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Replace(string(c.Raw), `"`+id+`"`, `"1"`, 1); got != want {
			t.Errorf("customer %s: raw = %q, want %q", id, c.Raw, want)
		}
		if out, err := json.Marshal(c); err != nil || !utf8.Valid(out) {
			t.Errorf("customer %s: JSON %q (%v), want valid UTF-8", id, out, err)
		}
	}
}

// TestChangeFields pins the names history entries have used since schema 1.
func TestChangeFields(t *testing.T) {
	want := []string{
		"name", "email", "phone", "mobile", "vat_number",
		"address.line1", "address.line2", "address.street", "address.street_number",
		"address.postal_code", "address.city", "address.country", "address.country_code",
		"role", "pricing_code", "website", "language", "currency", "client_type", "is_active",
	}
	if diff := cmp.Diff(want, ChangeFields()); diff != "" {
		t.Errorf("ChangeFields (-want +got):\n%s", diff)
	}
}

func TestDiff(t *testing.T) {
	s := func(v string) *string { return &v }
	created := &Customer{ID: "1", Name: "A", Email: s(""), Phone: s("1"), Currency: "", Version: time.Unix(1, 0)}
	want := map[string]Change{"name": {To: "A"}, "phone": {To: "1"}, "is_active": {To: false}}
	if diff := cmp.Diff(want, created.Diff(nil)); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	updated := *created
	updated.Phone, updated.Email, updated.Address.City, updated.IsActive = nil, s("e"), s("Gent"), true
	updated.Version, updated.Raw, updated.Source = time.Unix(2, 0), json.RawMessage(`{}`), SourceSync
	want = map[string]Change{"phone": {From: "1"}, "email": {From: "", To: "e"}, "address.city": {To: "Gent"}, "is_active": {From: false, To: true}}
	if diff := cmp.Diff(want, updated.Diff(created)); diff != "" {
		t.Errorf("updated (-want +got):\n%s", diff)
	}
	if got := created.Diff(created); len(got) != 0 {
		t.Errorf("unchanged: got %v, want no changes", got)
	}
}

// TestWriterCodecs: the writer's hand encodings read back as the library's
// do — a customer completed by appendCustomerTail as marshalCustomer's, a
// history entry by appendHistory as marshalHistory's — with strings that
// need escaping and every optional field set or not.
func TestWriterCodecs(t *testing.T) {
	at := time.Date(2026, 12, 5, 9, 14, 3, 123456789, time.UTC)
	str := func(s string) *string { return &s }
	logID := uint64(4411)
	for i, c := range []*Customer{
		{ID: "218", Name: "Maes \"Logistics\" <NV> & Zonen \u2028", Email: str("info@maes.be"), Address: Address{City: str("Gent")},
			Role: str("FORWARDER"), Currency: "EUR", IsActive: true, Version: at, CreatedAt: at.Add(-time.Hour), UpdatedAt: at,
			LastEventID: "ev-\x01-1", Source: SourceWebhook, Raw: []byte(`{"id":"218","name":"Maes"}`), historyHead: 77},
		{ID: "TEST-1", Currency: "EUR", Source: SourceSync},
	} {
		r, err := PrepareCustomer(c)
		if err != nil {
			t.Fatal(err)
		}
		p := *r.Value.(*PreparedCustomer).Customer
		p.LastEventID, p.Source, p.CreatedAt, p.UpdatedAt, p.historyHead = c.LastEventID, c.Source, c.CreatedAt, c.UpdatedAt, c.historyHead
		got := appendCustomerTail(r.Value.(*PreparedCustomer).body, &p)
		want, err := marshalCustomer(c)
		if err != nil {
			t.Fatal(err)
		}
		var a, b Customer
		if err := unmarshalCustomer(got, &a, true); err != nil {
			t.Fatalf("customer %d: %v\n%s", i, err, got)
		}
		if err := unmarshalCustomer(want, &b, true); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, a, cmp.AllowUnexported(Customer{})); diff != "" {
			t.Errorf("customer %d (-marshalCustomer +tail):\n%s", i, diff)
		}
	}
	for i, r := range []*historyRecord{
		{HistoryEntry: HistoryEntry{CustomerID: "218", At: at, LogID: &logID, Source: SourceWebhook, Event: "client.updated",
			Changes: map[string]Change{"role": {From: "BROKER", To: "FORWARDER"}, "email": {From: nil, To: "a\"b<c>@x.be"}, "is_active": {From: true, To: false}}},
			Prev: 76, Endpoint: "customers", EventID: "6f1c\t\u00e9", Version: at},
		{HistoryEntry: HistoryEntry{At: at, Source: SourceSync, Event: "sync", Changes: map[string]Change{}}},
		{HistoryEntry: HistoryEntry{At: at}},
	} {
		got := appendHistory(nil, r)
		want, err := marshalHistory(r)
		if err != nil {
			t.Fatal(err)
		}
		var a, b historyRecord
		if err := unmarshalHistory(got, &a); err != nil {
			t.Fatalf("history %d: %v\n%s", i, err, got)
		}
		if err := unmarshalHistory(want, &b); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b, a); diff != "" {
			t.Errorf("history %d (-marshalHistory +appendHistory):\n%s\n%s\n%s", i, diff, want, got)
		}
	}
}

// BenchmarkWriterCodecs compares, per delivery, what the writer encodes:
// the library's encoding of a whole customer and history entry against the
// tail appended to a prepared body and the hand-written history entry.
func BenchmarkWriterCodecs(b *testing.B) {
	at := time.Date(2026, 12, 5, 9, 14, 3, 0, time.UTC)
	c, err := sampleCustomer()
	if err != nil {
		b.Fatal(err)
	}
	c.CreatedAt, c.UpdatedAt, c.Version, c.historyHead = at, at, at, 77
	logID := uint64(4411)
	h := &historyRecord{HistoryEntry: HistoryEntry{CustomerID: c.ID, At: at, LogID: &logID, Source: SourceWebhook, Event: "client.updated",
		Changes: map[string]Change{"name": {From: "A", To: "B"}, "email": {From: "a@x", To: "b@x"}, "role": {From: nil, To: "X"},
			"phone": {From: "+32", To: "+33"}, "address.city": {From: "Gent", To: "Brugge"}, "is_active": {From: true, To: false}}},
		Prev: 76, Endpoint: "customers", EventID: "ev-1", Version: at}
	r, err := PrepareCustomer(c)
	if err != nil {
		b.Fatal(err)
	}
	body := r.Value.(*PreparedCustomer).body
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			if _, err := marshalCustomer(c); err != nil {
				b.Fatal(err)
			}
			if _, err := marshalHistory(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("writer", func(b *testing.B) {
		for b.Loop() {
			appendCustomerTail(body, c)
			appendHistory(nil, h)
		}
	})
}
