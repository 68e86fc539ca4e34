package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The hand-written encoders must write what encoding/json writes, and the
// customer decoder must read what json.Unmarshal reads.

func codecSeeds() []string {
	return []string{"", "plain", " spaced ", "<a href=\"x\">&amp;</a>", "back\\slash", "tab\tnl\nret\rbs\bff\f",
		"\x00\x01\x1f\x7f", "café Ø ☃ 😀", "bad \xff utf8 \xc3\x28", "\u2028line\u2029para", "quote\"", "/slash/"}
}

func codecTimes() []time.Time {
	return []time.Time{
		{},
		time.Date(2026, 11, 30, 9, 1, 2, 123456789, time.UTC),
		time.Date(2026, 11, 30, 9, 1, 2, 0, time.FixedZone("", 2*3600)),
		time.Date(2026, 11, 30, 9, 1, 2, 500, time.FixedZone("", -(5*3600+30*60))),
		time.Date(2026, 11, 30, 9, 1, 2, 0, time.FixedZone("", 25*3600)),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 30)),
	}
}

func codecCustomer(s string, t time.Time, n int) *Customer {
	p := func(i int) *string {
		if (n>>i)&1 == 1 {
			return nil
		}
		v := s + string(rune('a'+i))
		return &v
	}
	return &Customer{
		ID: "id" + s, Name: s, Email: p(0), Phone: p(1), Mobile: p(2), VATNumber: p(3),
		Address: Address{Line1: p(4), Line2: p(5), Street: p(6), StreetNumber: p(7), PostalCode: p(8), City: p(9), Country: p(10), CountryCode: p(11)},
		Role:    p(12), PricingCode: p(13), Website: p(14), Language: p(15), Currency: s, ClientType: p(16),
		IsActive: n%3 == 0, Version: t, CreatedAt: t.Add(time.Hour), UpdatedAt: t.Add(-time.Minute),
		LastEventID: "ev" + s, Source: SourceWebhook, Raw: json.RawMessage(`{"id":"x"}`), historyHead: uint64(n) * 1000,
	}
}

func TestMarshalCustomerMatchesJSON(t *testing.T) {
	n := 0
	for _, s := range codecSeeds() {
		for _, tm := range codecTimes() {
			n++
			c := codecCustomer(s, tm, n*2654435761)
			got, err := marshalCustomer(c)
			cp := *c
			cp.Raw = nil
			fields, wantErr := json.Marshal(&cp)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("marshalCustomer(%q, %v): got error %v, want %v", s, tm, err, wantErr)
			}
			if err != nil {
				continue
			}
			want := binary.AppendUvarint(nil, c.historyHead)
			want = binary.AppendUvarint(want, uint64(len(fields)))
			want = append(append(want, fields...), c.Raw...)
			if !bytes.Equal(got, want) {
				t.Fatalf("marshalCustomer(%q, %v):\ngot  %q\nwant %q", s, tm, got, want)
			}
			var back, ref Customer
			if err := unmarshalCustomer(got, &back, true); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(fields, &ref); err != nil {
				t.Fatal(err)
			}
			ref.Raw, ref.historyHead = c.Raw, c.historyHead
			if diff := cmp.Diff(ref, back, cmp.AllowUnexported(Customer{})); diff != "" {
				t.Fatalf("unmarshalCustomer(%q, %v): (-want +got)\n%s", s, tm, diff)
			}
		}
	}
	// A large record still frames correctly.
	c := codecCustomer(string(bytes.Repeat([]byte("x"), 20000)), time.Unix(0, 0), 0)
	data, err := marshalCustomer(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Customer
	if err := unmarshalCustomer(data, &back, true); err != nil || back.Name != c.Name || !bytes.Equal(back.Raw, c.Raw) {
		t.Fatalf("large record: got %v, name %d bytes", err, len(back.Name))
	}
}

// FuzzDecodeCustomerFields checks that the fast decoder accepts only what
// json.Unmarshal accepts and decodes it the same way.
func FuzzDecodeCustomerFields(f *testing.F) {
	for i, s := range codecSeeds() {
		for _, tm := range codecTimes()[:4] {
			data, _ := marshalCustomer(codecCustomer(s, tm, i*7))
			_, w := binary.Uvarint(data)
			n, w2 := binary.Uvarint(data[w:])
			f.Add(data[w+w2 : w+w2+int(n)])
		}
	}
	f.Add([]byte(`{"id":"a","ID":"b"}`))
	f.Add([]byte(`{"id":"a\u0062","name":null,"is_active":null,"email":"x","address":{"city":"c"}}`))
	f.Add([]byte(`{"id":"a\q"}`))
	f.Add([]byte(`{"version":"2026-01-01T00:00:00+24:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Customer
		ok := decodeCustomerFields(data, &fast)
		var ref Customer
		err := json.Unmarshal(data, &ref)
		if ok && err != nil {
			t.Fatalf("decodeCustomerFields(%q) accepted what json.Unmarshal rejects: %v", data, err)
		}
		if ok {
			if diff := cmp.Diff(ref, fast, cmp.AllowUnexported(Customer{})); diff != "" {
				t.Fatalf("decodeCustomerFields(%q): (-want +got)\n%s", data, diff)
			}
		}
	})
}

func TestMarshalEventMatchesJSON(t *testing.T) {
	for i, s := range codecSeeds() {
		for _, tm := range codecTimes() {
			ev := &Event{ID: uint64(i) << 40, ReceivedAt: tm, Endpoint: s, Event: "client." + s, EventID: s + "1", ClientID: s,
				Status: StatusProcessed, Error: s, Deliveries: i - 3, LastDeliveryAt: tm.Add(time.Second), DurationUS: -int64(i),
				SignatureTimestamp: tm.Unix(), RemoteAddr: "127.0.0.1" + s}
			if i%2 == 0 {
				ev.SecretID = "config:" + s
			}
			got, err := marshalEvent(ev)
			want, wantErr := json.Marshal(ev)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("marshalEvent:\ngot  %q, %v\nwant %q, %v", got, err, want, wantErr)
			}
		}
	}
}

func TestMarshalHistoryMatchesJSON(t *testing.T) {
	logID := uint64(77)
	for i, s := range codecSeeds() {
		for _, tm := range codecTimes() {
			c := codecCustomer(s, tm, i*977)
			old := codecCustomer(s+"o", tm, i*131)
			for _, o := range []*Customer{nil, old, c} {
				var oldV, newV fieldValues
				var oldP *fieldValues
				if o != nil {
					o.values(&oldV)
					oldP = &oldV
				}
				c.values(&newV)
				changed := changedFields(nil, oldP, &newV)
				lp := &logID
				if i%3 == 0 {
					lp = nil
				}
				got, err := marshalHistory(c.ID, tm, lp, SourceSync, "client."+s, appendChanges(nil, changed, oldP, &newV), uint64(i))
				want, wantErr := json.Marshal(historyRecord{
					HistoryEntry: HistoryEntry{CustomerID: c.ID, At: tm, LogID: lp, Source: SourceSync, Event: "client." + s, Changes: c.Diff(o)},
					Prev:         uint64(i),
				})
				if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
					t.Fatalf("marshalHistory:\ngot  %q, %v\nwant %q, %v", got, err, want, wantErr)
				}
			}
		}
	}
}
