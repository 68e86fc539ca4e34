package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// The encoders below write exactly what encoding/json writes for the same
// values (field order, HTML-safe string escapes, RFC 3339 times, sorted
// map keys), so records stay readable by json.Unmarshal and by older
// versions, without json.Marshal's reflection on the ingestion path. Values
// they cannot write themselves (a time outside json's range) go through
// json.Marshal, which reports the error.

// marshalCustomer encodes a customer as uvarint(history head) +
// uvarint(len(fields)) + fields JSON + raw bytes. Keeping raw outside the JSON spares re-validating and
// compacting it on every write and decoding it on every read of the old
// version during ingestion.
func marshalCustomer(c *Customer) ([]byte, error) {
	return appendCustomer(make([]byte, 0, 2*binary.MaxVarintLen64+640+len(c.Raw)), c)
}

// appendCustomer appends marshalCustomer's encoding of c to buf.
func appendCustomer(buf []byte, c *Customer) ([]byte, error) {
	buf = binary.AppendUvarint(buf, c.historyHead)
	// The fields' length goes in front of them: reserve two bytes (up to
	// 16 KiB, enough for any usual record) and close or widen the gap.
	lenAt := len(buf)
	buf = append(buf, 0, 0)
	start := len(buf)
	var ok bool
	if buf, ok = appendCustomerFields(buf, c); !ok {
		cp := *c
		cp.Raw = nil
		fields, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		buf = append(buf[:start], fields...)
	}
	n := uint64(len(buf) - start)
	var lenBuf [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(lenBuf[:], n)
	switch {
	case w > 2:
		out := make([]byte, 0, len(buf)+w+len(c.Raw))
		out = append(out, buf[:lenAt]...)
		out = append(out, lenBuf[:w]...)
		buf = append(out, buf[start:]...)
	case w == 2:
		copy(buf[lenAt:], lenBuf[:w])
	default:
		buf[lenAt] = lenBuf[0]
		buf = append(buf[:lenAt+1], buf[start:]...)
	}
	return append(buf, c.Raw...), nil
}

// appendCustomerFields appends json.Marshal's encoding of c without raw;
// ok is false when a time cannot be encoded.
func appendCustomerFields(buf []byte, c *Customer) ([]byte, bool) {
	ok := true
	buf = append(buf, `{"id":`...)
	buf = appendString(buf, c.ID)
	buf = append(buf, `,"name":`...)
	buf = appendString(buf, c.Name)
	buf = append(buf, `,"email":`...)
	buf = appendStringPtr(buf, c.Email)
	buf = append(buf, `,"phone":`...)
	buf = appendStringPtr(buf, c.Phone)
	buf = append(buf, `,"mobile":`...)
	buf = appendStringPtr(buf, c.Mobile)
	buf = append(buf, `,"vat_number":`...)
	buf = appendStringPtr(buf, c.VATNumber)
	a := &c.Address
	buf = append(buf, `,"address":{"line1":`...)
	buf = appendStringPtr(buf, a.Line1)
	buf = append(buf, `,"line2":`...)
	buf = appendStringPtr(buf, a.Line2)
	buf = append(buf, `,"street":`...)
	buf = appendStringPtr(buf, a.Street)
	buf = append(buf, `,"street_number":`...)
	buf = appendStringPtr(buf, a.StreetNumber)
	buf = append(buf, `,"postal_code":`...)
	buf = appendStringPtr(buf, a.PostalCode)
	buf = append(buf, `,"city":`...)
	buf = appendStringPtr(buf, a.City)
	buf = append(buf, `,"country":`...)
	buf = appendStringPtr(buf, a.Country)
	buf = append(buf, `,"country_code":`...)
	buf = appendStringPtr(buf, a.CountryCode)
	buf = append(buf, `},"role":`...)
	buf = appendStringPtr(buf, c.Role)
	buf = append(buf, `,"pricing_code":`...)
	buf = appendStringPtr(buf, c.PricingCode)
	buf = append(buf, `,"website":`...)
	buf = appendStringPtr(buf, c.Website)
	buf = append(buf, `,"language":`...)
	buf = appendStringPtr(buf, c.Language)
	buf = append(buf, `,"currency":`...)
	buf = appendString(buf, c.Currency)
	buf = append(buf, `,"client_type":`...)
	buf = appendStringPtr(buf, c.ClientType)
	buf = append(buf, `,"is_active":`...)
	buf = strconv.AppendBool(buf, c.IsActive)
	buf = append(buf, `,"version":`...)
	buf, ok = appendTime(buf, c.Version, ok)
	buf = append(buf, `,"created_at":`...)
	buf, ok = appendTime(buf, c.CreatedAt, ok)
	buf = append(buf, `,"updated_at":`...)
	buf, ok = appendTime(buf, c.UpdatedAt, ok)
	buf = append(buf, `,"last_event_id":`...)
	buf = appendString(buf, c.LastEventID)
	buf = append(buf, `,"source":`...)
	buf = appendString(buf, c.Source)
	return append(buf, '}'), ok
}

// unmarshalCustomer decodes marshalCustomer's output into c; with withRaw
// false, c.Raw stays nil. It copies, so v may be bbolt memory.
func unmarshalCustomer(v []byte, c *Customer, withRaw bool) error {
	head, hw := binary.Uvarint(v)
	if hw <= 0 {
		return errors.New("corrupt customer record")
	}
	v = v[hw:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return errors.New("corrupt customer record")
	}
	fields := v[w : w+int(n)]
	var fast Customer
	if decodeCustomerFields(fields, &fast) {
		*c = fast
	} else if err := json.Unmarshal(fields, c); err != nil {
		return err
	}
	c.Raw, c.historyHead = nil, head
	if rest := v[w+int(n):]; withRaw && len(rest) > 0 {
		c.Raw = append(json.RawMessage(nil), rest...)
	}
	return nil
}

// marshalEvent encodes a log entry as json.Marshal would.
func marshalEvent(ev *Event) ([]byte, error) {
	buf := make([]byte, 0, 384)
	ok := true
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendUint(buf, ev.ID, 10)
	buf = append(buf, `,"received_at":`...)
	buf, ok = appendTime(buf, ev.ReceivedAt, ok)
	buf = append(buf, `,"endpoint":`...)
	buf = appendString(buf, ev.Endpoint)
	buf = append(buf, `,"event":`...)
	buf = appendString(buf, ev.Event)
	buf = append(buf, `,"event_id":`...)
	buf = appendString(buf, ev.EventID)
	buf = append(buf, `,"client_id":`...)
	buf = appendString(buf, ev.ClientID)
	buf = append(buf, `,"status":`...)
	buf = appendString(buf, ev.Status)
	buf = append(buf, `,"error":`...)
	buf = appendString(buf, ev.Error)
	buf = append(buf, `,"deliveries":`...)
	buf = strconv.AppendInt(buf, int64(ev.Deliveries), 10)
	buf = append(buf, `,"last_delivery_at":`...)
	buf, ok = appendTime(buf, ev.LastDeliveryAt, ok)
	buf = append(buf, `,"duration_us":`...)
	buf = strconv.AppendInt(buf, ev.DurationUS, 10)
	buf = append(buf, `,"signature_timestamp":`...)
	buf = strconv.AppendInt(buf, ev.SignatureTimestamp, 10)
	buf = append(buf, `,"remote_addr":`...)
	buf = appendString(buf, ev.RemoteAddr)
	if ev.SecretID != "" {
		buf = append(buf, `,"secret_id":`...)
		buf = appendString(buf, ev.SecretID)
	}
	buf = append(buf, '}')
	if !ok {
		return json.Marshal(ev)
	}
	return buf, nil
}

// historyRecord is a stored history entry: the entry plus the sequence of
// the same customer's previous entry, so a customer's history is a chain
// walked from Customer.historyHead without a random-key index to write.
type historyRecord struct {
	HistoryEntry
	Prev uint64 `json:"prev,omitempty"`
}

// marshalHistory encodes a history record as json.Marshal would encode
// historyRecord{HistoryEntry{…}, prev}, with changes the JSON of its
// Changes from appendChanges.
func marshalHistory(customerID string, at time.Time, logID *uint64, source, event string, changes []byte, prev uint64) ([]byte, error) {
	buf := make([]byte, 0, 128+len(changes))
	ok := true
	buf = append(buf, '{')
	if customerID != "" {
		buf = append(buf, `"customer_id":`...)
		buf = appendString(buf, customerID)
		buf = append(buf, ',')
	}
	buf = append(buf, `"at":`...)
	buf, ok = appendTime(buf, at, ok)
	if !ok {
		// Let encoding/json report the error.
		_, err := json.Marshal(at)
		if err == nil {
			err = errors.New("cannot encode history time")
		}
		return nil, err
	}
	buf = append(buf, `,"log_id":`...)
	if logID == nil {
		buf = append(buf, "null"...)
	} else {
		buf = strconv.AppendUint(buf, *logID, 10)
	}
	buf = append(buf, `,"source":`...)
	buf = appendString(buf, source)
	buf = append(buf, `,"event":`...)
	buf = appendString(buf, event)
	buf = append(buf, `,"changes":`...)
	buf = append(buf, changes...)
	if prev != 0 {
		buf = append(buf, `,"prev":`...)
		buf = strconv.AppendUint(buf, prev, 10)
	}
	return append(buf, '}'), nil
}

// appendChanges appends the JSON of the changes map of a history entry
// (keys sorted, as json.Marshal writes a map): the fields listed in changed
// (indexes into fieldNames) with their old values from oldV (nil for a
// created customer) and new ones from newV.
func appendChanges(buf []byte, changed []int, oldV, newV *fieldValues) []byte {
	var mask uint32
	for _, i := range changed {
		mask |= 1 << i
	}
	buf = append(buf, '{')
	first := true
	for _, i := range sortedFields {
		if mask&(1<<i) == 0 {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, fieldNames[i])
		buf = append(buf, `:{"from":`...)
		if oldV == nil {
			buf = append(buf, "null"...)
		} else {
			buf = oldV[i].appendJSON(buf)
		}
		buf = append(buf, `,"to":`...)
		buf = newV[i].appendJSON(buf)
		buf = append(buf, '}')
	}
	return append(buf, '}')
}

func appendStringPtr(buf []byte, p *string) []byte {
	if p == nil {
		return append(buf, "null"...)
	}
	return appendString(buf, *p)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the ASCII bytes encoding/json writes as they are (with
// its HTML escaping on): printable, except ", \, <, > and &.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString appends s as encoding/json writes a string (HTML-safe:
// <, > and & escaped; invalid UTF-8 as \ufffd; U+2028 and U+2029 escaped).
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendTime appends t as time.Time.MarshalJSON does; ok turns false (and
// stays false) when MarshalJSON would fail.
func appendTime(buf []byte, t time.Time, ok bool) ([]byte, bool) {
	buf = append(buf, '"')
	n0 := len(buf)
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	// MarshalJSON's checks: a four-digit year and a zone offset below 24h.
	switch {
	case len(buf)-n0 < len("2006-01-02T15:04:05Z") || buf[n0+4] != '-':
		ok = false
	case buf[len(buf)-1] != 'Z':
		if c := buf[len(buf)-len("Z07:00")]; c >= '0' && c <= '9' {
			ok = false
		} else if h := 10*int(buf[len(buf)-5]-'0') + int(buf[len(buf)-4]-'0'); h >= 24 {
			ok = false
		}
	}
	return append(buf, '"'), ok
}

// decodeCustomerFields decodes the fields JSON of a customer record when it
// has the shape appendCustomerFields writes: the known keys (in any order)
// with string, null, bool and time values. It reports false for anything
// else, and the caller lets encoding/json decode it instead.
func decodeCustomerFields(data []byte, c *Customer) bool {
	d := fieldDecoder{data: data}
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return d.str(&c.ID)
		case "name":
			return d.str(&c.Name)
		case "email":
			return d.strPtr(&c.Email)
		case "phone":
			return d.strPtr(&c.Phone)
		case "mobile":
			return d.strPtr(&c.Mobile)
		case "vat_number":
			return d.strPtr(&c.VATNumber)
		case "address":
			a := &c.Address
			return d.object(func(key []byte) bool {
				switch string(key) {
				case "line1":
					return d.strPtr(&a.Line1)
				case "line2":
					return d.strPtr(&a.Line2)
				case "street":
					return d.strPtr(&a.Street)
				case "street_number":
					return d.strPtr(&a.StreetNumber)
				case "postal_code":
					return d.strPtr(&a.PostalCode)
				case "city":
					return d.strPtr(&a.City)
				case "country":
					return d.strPtr(&a.Country)
				case "country_code":
					return d.strPtr(&a.CountryCode)
				}
				return false
			})
		case "role":
			return d.strPtr(&c.Role)
		case "pricing_code":
			return d.strPtr(&c.PricingCode)
		case "website":
			return d.strPtr(&c.Website)
		case "language":
			return d.strPtr(&c.Language)
		case "currency":
			return d.str(&c.Currency)
		case "client_type":
			return d.strPtr(&c.ClientType)
		case "is_active":
			return d.boolean(&c.IsActive)
		case "version":
			return d.time(&c.Version)
		case "created_at":
			return d.time(&c.CreatedAt)
		case "updated_at":
			return d.time(&c.UpdatedAt)
		case "last_event_id":
			return d.str(&c.LastEventID)
		case "source":
			return d.str(&c.Source)
		}
		return false
	}) && d.i == len(d.data)
}

// fieldDecoder reads the flat JSON objects this package writes. Every
// method checks the syntax it accepts and reports false on anything else.
type fieldDecoder struct {
	data []byte
	i    int
}

// object reads {"key": value, …}, calling member for each key with d.i at
// the value; member reads the value.
func (d *fieldDecoder) object(member func(key []byte) bool) bool {
	if d.i >= len(d.data) || d.data[d.i] != '{' {
		return false
	}
	d.i++
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return true
	}
	for {
		key, plain, ok := d.token()
		if !ok || !plain || d.i >= len(d.data) || d.data[d.i] != ':' {
			return false
		}
		d.i++
		if !member(key) || d.i >= len(d.data) {
			return false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// token reads a string token and returns its contents; plain reports that
// they need no decoding (no escapes, valid UTF-8).
func (d *fieldDecoder) token() (inner []byte, plain, ok bool) {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return nil, false, false
	}
	plain = true
	ascii := true
	for j := d.i + 1; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			inner = d.data[d.i+1 : j]
			d.i = j + 1
			if !ascii && !utf8.Valid(inner) {
				plain = false
			}
			return inner, plain, true
		case c == '\\':
			plain = false
			j++ // the escaped character cannot end the string
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

func (d *fieldDecoder) str(dst *string) bool {
	start := d.i
	inner, plain, ok := d.token()
	if !ok {
		return false
	}
	if plain {
		*dst = string(inner)
		return true
	}
	return json.Unmarshal(d.data[start:d.i], dst) == nil
}

func (d *fieldDecoder) strPtr(dst **string) bool {
	if d.literal("null") {
		*dst = nil
		return true
	}
	var s string
	if !d.str(&s) {
		return false
	}
	*dst = &s
	return true
}

func (d *fieldDecoder) boolean(dst *bool) bool {
	switch {
	case d.literal("true"):
		*dst = true
	case d.literal("false"):
		*dst = false
	default:
		return false
	}
	return true
}

func (d *fieldDecoder) time(dst *time.Time) bool {
	start := d.i
	if _, plain, ok := d.token(); !ok || !plain {
		return false
	}
	return dst.UnmarshalJSON(d.data[start:d.i]) == nil
}

func (d *fieldDecoder) literal(lit string) bool {
	if len(d.data)-d.i < len(lit) || string(d.data[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}
