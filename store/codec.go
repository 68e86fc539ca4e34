package store

import (
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"
)

// Every record is stored as the JSON of its type (STYLE §6), through one
// marshal/unmarshal pair per kind. The quarantine keeps its own framed
// format (encodeQuarantined in quarantine.go): a header and a binary body.
//
// The JSON is encoding/json's, API and behaviour, as
// github.com/go-json-experiment/json/v1 implements it on the
// encoding/json/v2 engine: the records written by either read the same. It
// is there because the store's single writer decodes and encodes a customer
// for every delivery: BenchmarkCustomerRecord measured 10.9 µs to decode
// one with encoding/json against 5.7 µs, 4.7 µs to encode against 4.0 µs.

// customerRecord is a stored customer: the Customer the API shows plus
// what only the store needs.
type customerRecord struct {
	*Customer
	// HistoryHead is the sequence of the newest history entry (0 = none).
	HistoryHead uint64 `json:"history_head,omitempty"`
}

// customerNoRaw reads a stored customer without its raw client JSON,
// which most readers (the index, lists, ingestion) never look at.
type customerNoRaw struct {
	customerRecord
	Raw skipJSON `json:"raw"` // shadows Customer.Raw
}

// skipJSON is a JSON value that is read and dropped.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

func marshalCustomer(c *Customer) ([]byte, error) {
	return json.Marshal(customerRecord{Customer: c, HistoryHead: c.historyHead})
}

// unmarshalCustomer decodes marshalCustomer's output into c; with withRaw
// false, c.Raw stays nil. It copies, so v may be bbolt memory. A raw with
// invalid UTF-8 (stored before applyCustomer replaced it) is read with
// U+FFFD in its place.
func unmarshalCustomer(v []byte, c *Customer, withRaw bool) error {
	*c = Customer{}
	r := customerNoRaw{customerRecord: customerRecord{Customer: c}}
	var dst any = &r
	if withRaw {
		dst = &r.customerRecord
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return err
	}
	c.historyHead = r.HistoryHead
	if withRaw {
		c.Raw = validUTF8(c.Raw)
	}
	return nil
}

// validUTF8 returns b, or when b holds invalid UTF-8 a copy with each
// invalid byte replaced by U+FFFD, as a JSON decoder reads such a byte in a
// string. In valid JSON such bytes can only be inside strings, so the
// result is valid JSON still.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

func marshalEvent(ev *Event) ([]byte, error) { return json.Marshal(ev) }

func unmarshalEvent(v []byte, ev *Event) error { return json.Unmarshal(v, ev) }

// historyRecord is a stored history entry: the entry plus the sequence of
// the same customer's previous entry, so a customer's history is a chain
// walked from Customer.historyHead without a random-key index to write.
type historyRecord struct {
	HistoryEntry
	Prev uint64 `json:"prev,omitempty"`
	// Endpoint, EventID and Version are the change's delivery and the
	// customer's version after it, for the changes stream (forward.go);
	// entries written before forwarding have none.
	Endpoint string    `json:"endpoint,omitempty"`
	EventID  string    `json:"event_id,omitempty"`
	Version  time.Time `json:"version,omitzero"`
}

func marshalHistory(r *historyRecord) ([]byte, error) { return json.Marshal(r) }

func unmarshalHistory(v []byte, r *historyRecord) error { return json.Unmarshal(v, r) }

func marshalSecret(s *Secret) ([]byte, error) { return json.Marshal(s) }

func unmarshalSecret(v []byte, s *Secret) error { return json.Unmarshal(v, s) }
