package store

import (
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
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

func marshalLogEntry(ev *LogEntry) ([]byte, error) { return json.Marshal(ev) }

func unmarshalLogEntry(v []byte, ev *LogEntry) error { return json.Unmarshal(v, ev) }

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

// The writer's encodings. The writer is the intake's one serial step, so
// what it encodes it encodes by hand, and what does not depend on the
// stored state is encoded before it runs (BenchmarkWriterCodecs):
//
//   - a customer's record: the request's goroutine encodes everything the
//     delivery says (customerBody: the mapped fields, version, raw); the
//     writer appends what depends on the stored record (appendCustomerTail:
//     last_event_id, source, created_at, updated_at, history_head). The
//     keys of one object are read in any order, so the record decodes as
//     marshalCustomer's does.
//   - a history entry: appendHistory writes marshalHistory's object, keys in
//     the same order, strings through jsontext.AppendQuote.

// customerBody is a customer record without what the writer appends: its
// shadowing fields are never set, so they leave the embedded ones out.
type customerBody struct {
	*Customer
	LastEventID *struct{} `json:"last_event_id,omitempty"`
	Source      *struct{} `json:"source,omitempty"`
	CreatedAt   *struct{} `json:"created_at,omitempty"`
	UpdatedAt   *struct{} `json:"updated_at,omitempty"`
}

func marshalCustomerBody(c *Customer) ([]byte, error) { return json.Marshal(customerBody{Customer: c}) }

// appendCustomerTail completes body (marshalCustomerBody's output) with
// c's stored-state fields into a new slice.
func appendCustomerTail(body []byte, c *Customer) []byte {
	dst := make([]byte, 0, len(body)+160+len(c.LastEventID))
	dst = append(dst, body[:len(body)-1]...)
	if len(body) > 2 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"last_event_id":`...)
	dst = appendString(dst, c.LastEventID)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, c.Source)
	dst = append(dst, `,"created_at":`...)
	dst = appendTime(dst, c.CreatedAt)
	dst = append(dst, `,"updated_at":`...)
	dst = appendTime(dst, c.UpdatedAt)
	if c.historyHead != 0 {
		dst = append(dst, `,"history_head":`...)
		dst = strconv.AppendUint(dst, c.historyHead, 10)
	}
	return append(dst, '}')
}

// appendHistory appends marshalHistory(r)'s JSON object to dst.
func appendHistory(dst []byte, r *historyRecord) []byte {
	dst = append(dst, '{')
	if r.CustomerID != "" {
		dst = append(dst, `"customer_id":`...)
		dst = appendString(dst, r.CustomerID)
		dst = append(dst, ',')
	}
	dst = append(dst, `"at":`...)
	dst = appendTime(dst, r.At)
	dst = append(dst, `,"log_id":`...)
	if r.LogID == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendUint(dst, *r.LogID, 10)
	}
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, r.Source)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, r.Event)
	dst = append(dst, `,"changes":`...)
	if r.Changes == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, field := range slices.Sorted(maps.Keys(r.Changes)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			ch := r.Changes[field]
			dst = appendString(dst, field)
			dst = append(dst, `:{"from":`...)
			dst = appendValue(dst, ch.From)
			dst = append(dst, `,"to":`...)
			dst = appendValue(dst, ch.To)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	if r.Prev != 0 {
		dst = append(dst, `,"prev":`...)
		dst = strconv.AppendUint(dst, r.Prev, 10)
	}
	if r.Endpoint != "" {
		dst = append(dst, `,"endpoint":`...)
		dst = appendString(dst, r.Endpoint)
	}
	if r.EventID != "" {
		dst = append(dst, `,"event_id":`...)
		dst = appendString(dst, r.EventID)
	}
	if !r.Version.IsZero() {
		dst = append(dst, `,"version":`...)
		dst = appendTime(dst, r.Version)
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as json.Marshal makes it.
func appendString(dst []byte, s string) []byte {
	dst, _ = jsontext.AppendQuote(dst, s)
	return dst
}

// appendTime appends t as json.Marshal does: RFC 3339 with nanoseconds.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendValue appends a change's value: what a history entry holds (nil, a
// string, a bool), anything else through json.Marshal.
func appendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
