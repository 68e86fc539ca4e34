// Package customer maps a Robaws client object — the data of a client.*
// delivery, or one item of a clients page — to a store.Customer, following
// SPEC §2: trimmed text fields, phones and VAT numbers normalised, the
// address assembled, role and pricing code read from extraFields.
//
// Client keys match exactly, as Robaws sends them (camelCase), and the last
// of a repeated key wins, as decoding into a map does; only extraFields
// keys are matched case-insensitively, and in payload order.
//
// It decodes with encoding/json's API and behaviour as
// github.com/go-json-experiment/json/v1 implements them on the
// encoding/json/v2 engine, like the store: BenchmarkMap measured 29.6 µs a
// client with encoding/json against 21.0 µs, on the receiver's path.
package customer

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/robaws-edge/robaws-edge/store"
)

// ErrMissingID is returned by Map when data.id is missing, null, empty or
// neither a string nor a number. Its text is what the delivery log shows
// (SPEC §2).
var ErrMissingID = errors.New("data.id missing")

// Mapping configures how Robaws client objects become customers (SPEC §2,
// config keys customers.*). The zero value uses every default.
type Mapping struct {
	// DefaultCountry is the ISO 3166 alpha-2 country used for national phone
	// numbers and digits-only VAT numbers; default "BE".
	DefaultCountry string
	// RoleField is the extraFields key (a field name, matched
	// case-insensitively, or a field UUID) holding the role; default "Role".
	RoleField string
	// PricingField is the extraFields key holding the pricing code; default
	// "PRICING".
	PricingField string
}

// WithDefaults returns m with its empty fields set to their defaults.
func (m Mapping) WithDefaults() Mapping {
	m.DefaultCountry = countryOrDefault(m.DefaultCountry)
	if m.RoleField = strings.TrimSpace(m.RoleField); m.RoleField == "" {
		m.RoleField = "Role"
	}
	if m.PricingField = strings.TrimSpace(m.PricingField); m.PricingField == "" {
		m.PricingField = "PRICING"
	}
	return m
}

func countryOrDefault(cc string) string {
	if cc = strings.ToUpper(strings.TrimSpace(cc)); cc == "" {
		return "BE"
	}
	return cc
}

// ID returns data.id as a string: a JSON string trimmed, a JSON number in
// plain decimal notation (218 → "218"). It returns "" when data is not a
// JSON object or the id is missing, null, empty or of another type, so it
// can label log entries even when Map fails.
func ID(data []byte) string {
	obj, err := decodeObject(data)
	if err != nil {
		return ""
	}
	return Text(obj["id"])
}

// Map maps a Robaws client object to a customer, following SPEC §2. Raw is
// set to a copy of data. Version is data.updatedAt when it parses as RFC 3339
// (fractional seconds allowed), in UTC, else zero: the caller then uses the
// signature timestamp or the sync fetch time. CreatedAt, UpdatedAt, Source
// and LastEventID are left for the store.
//
// It returns an error when data is not a JSON object, and ErrMissingID
// (unwrapped) when id is missing, null, empty or neither a string nor a
// number.
func Map(data []byte, m Mapping) (*store.Customer, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	id := Text(obj["id"])
	if id == "" {
		return nil, ErrMissingID
	}
	m = m.WithDefaults()
	c := &store.Customer{
		ID:         id,
		Name:       obj.text("name"),
		Email:      optional(strings.ToLower(obj.text("email"))),
		Phone:      optional(NormalizePhone(obj.text("tel", "phone", "telephone"), m.DefaultCountry)),
		Mobile:     optional(NormalizePhone(obj.text("gsm", "mobile"), m.DefaultCountry)),
		VATNumber:  optional(NormalizeVAT(obj.text("vatNumber", "vat", "vat_number", "btw"), m.DefaultCountry)),
		Address:    obj.address(),
		Website:    optional(obj.text("website")),
		Language:   optional(obj.text("language")),
		Currency:   obj.text("currency"),
		ClientType: optional(obj.text("clientType")),
		IsActive:   obj.isActive(),
		Raw:        bytes.Clone(data),
	}
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	fields := extraFields(obj["extraFields"])
	if v, ok := fields.lookup(m.RoleField, "role"); ok {
		c.Role = optional(strings.ToUpper(v))
	}
	if v, ok := fields.lookup(m.PricingField, "pricing"); ok {
		c.PricingCode = pricingCode(v)
	}
	if s := obj.text("updatedAt"); s != "" {
		// In UTC it must stay a year JSON can hold (0000–9999):
		// "9999-12-31T23:30:00-01:00" is year 10000 there, and goes like an
		// unreadable value (the event's time stands in, SPEC §1.7).
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.UTC().Year() >= 0 && t.UTC().Year() <= 9999 {
			c.Version = t.UTC()
		}
	}
	return c, nil
}

// object is a decoded JSON object: its values as they are in the input.
type object map[string]json.RawMessage

// decodeObject decodes data, a JSON object with surrounding whitespace
// allowed. Its errors are json.Unmarshal's, wrapped.
func decodeObject(data []byte) (object, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("data is not a JSON object")
	}
	var obj object
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	return obj, nil
}

// subObject decodes the value of key when it is an object; otherwise (or
// when key is missing) it returns an empty object.
func (o object) subObject(key string) object {
	var sub object
	if raw := o[key]; len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &sub) // valid: it was decoded as part of o
	}
	return sub
}

// text returns the Text of the first key with a non-empty one.
func (o object) text(keys ...string) string {
	for _, k := range keys {
		if s := Text(o[k]); s != "" {
			return s
		}
	}
	return ""
}

// Text returns the text of a JSON scalar: a string trimmed, or a number in
// plain decimal notation. Anything else (null, bool, object, array, invalid
// JSON) is "". Accepting numbers keeps e.g. a numeric id or postalCode.
func Text(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case c == '-' || c >= '0' && c <= '9':
		return plainNumber(string(raw))
	}
	return ""
}

// plainNumber writes a JSON number literal in plain decimal notation, exactly
// (no float rounding): 218 → "218", 218.0 → "218", 2.18e2 → "218",
// 5e-3 → "0.005". Exponents beyond ±1000 are kept as written.
func plainNumber(lit string) string {
	s, neg := strings.CutPrefix(lit, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expText)
		if err != nil || e > 1000 || e < -1000 {
			return lit
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	if point < 1 {
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	out := strings.TrimLeft(digits[:point], "0")
	if out == "" {
		out = "0"
	}
	if f := strings.TrimRight(digits[point:], "0"); f != "" {
		out += "." + f
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

// optional returns nil for "", so that the field reads as JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// address builds the address from data.address and the top-level street,
// streetNumber and countryCode. data.address.countryCode wins over the
// top-level countryCode because it belongs to the address itself; street and
// streetNumber are also read from data.address when absent at the top level.
func (o object) address() store.Address {
	a := o.subObject("address")
	pick := func(s ...string) *string {
		for _, v := range s {
			if v != "" {
				return &v
			}
		}
		return nil
	}
	return store.Address{
		Line1:        pick(a.text("addressLine1")),
		Line2:        pick(a.text("addressLine2")),
		Street:       pick(o.text("street"), a.text("street")),
		StreetNumber: pick(o.text("streetNumber"), a.text("streetNumber")),
		PostalCode:   pick(a.text("postalCode")),
		City:         pick(a.text("city")),
		Country:      pick(a.text("country")),
		CountryCode:  pick(a.text("countryCode"), o.text("countryCode")),
	}
}

// isActive reads isActive: a JSON bool, or a string strconv.ParseBool
// accepts ("true", "false", "1", "0", any case). Anything else is true.
func (o object) isActive() bool {
	raw := o["isActive"]
	switch {
	case string(raw) == "false":
		return false
	case len(raw) > 0 && raw[0] == '"':
		if b, err := strconv.ParseBool(strings.ToLower(Text(raw))); err == nil {
			return b
		}
	}
	return true
}

// field is one member of data.extraFields.
type field struct {
	key   string
	value json.RawMessage
}

// fieldList is data.extraFields in payload order, repeated keys included:
// the fallback rule "the first key containing role" depends on that order,
// which a map would lose.
type fieldList []field

// extraFields decodes the extraFields object keeping its order. Anything
// other than an object yields no fields.
func extraFields(raw json.RawMessage) fieldList {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var list fieldList
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return list
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return list
		}
		list = append(list, field{key: key, value: v})
	}
	return list
}

// lookup returns the value of the field whose key equals name
// case-insensitively (the first such key in payload order), else of the
// first key whose lower-cased form contains substr. ok is false when no key
// matches. A matching key decides even when its value is empty: an emptied
// Role field reads as no role rather than falling back to another field.
func (l fieldList) lookup(name, substr string) (value string, ok bool) {
	for _, f := range l {
		if strings.EqualFold(f.key, name) {
			return f.text(), true
		}
	}
	for _, f := range l {
		if strings.Contains(strings.ToLower(f.key), substr) {
			return f.text(), true
		}
	}
	return "", false
}

// text returns the field's value: stringValue, else value, else textValue
// (the first non-empty), or the field itself when it is a plain string.
func (f field) text() string {
	if len(f.value) > 0 && f.value[0] == '{' {
		var obj object
		if json.Unmarshal(f.value, &obj) != nil {
			return ""
		}
		return obj.text("stringValue", "value", "textValue")
	}
	return Text(f.value)
}

// pricingCode maps "A"/"TIER A" (any case, any spacing) to "A", likewise B
// and C; anything else is nil.
func pricingCode(s string) *string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), " "))
	s = strings.TrimPrefix(s, "TIER ")
	switch s {
	case "A", "B", "C":
		return &s
	}
	return nil
}
