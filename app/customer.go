package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robaws-edge/robaws-edge/store"
)

// ErrMissingClientID is returned by MapCustomer when data.id is missing,
// null, empty or neither a string nor a number. Its text is what the
// delivery log shows (SPEC §2).
var ErrMissingClientID = errors.New("data.id missing")

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

// withDefaults fills empty fields with their defaults.
func (m Mapping) withDefaults() Mapping {
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

// clientObject is a decoded Robaws client object. Keys match exactly, as
// Robaws sends them (camelCase); a repeated key keeps its last value.
type clientObject map[string]json.RawMessage

func decodeClientObject(data []byte) (clientObject, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("data is not a JSON object")
	}
	var obj clientObject
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	return obj, nil
}

// text returns the trimmed text of the first key with a non-empty value.
func (o clientObject) text(keys ...string) string {
	for _, k := range keys {
		if s := scalarText(o[k]); s != "" {
			return s
		}
	}
	return ""
}

// id returns data.id as a string, or "" when it is missing, null, empty or
// neither a string nor a number.
func (o clientObject) id() string {
	return scalarText(o["id"])
}

// scalarText returns a JSON string trimmed, or a JSON number in plain
// decimal notation; anything else (null, bool, object, array) is "".
// Accepting numbers keeps e.g. a numeric postalCode or id.
func scalarText(raw json.RawMessage) string {
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

// ClientID returns data.id as a string: a JSON string trimmed, a JSON number
// in plain decimal notation (218 → "218"). It returns "" when data is not a
// JSON object or the id is missing, null, empty or of another type, so it
// can label log entries even when MapCustomer fails.
func ClientID(data []byte) string {
	obj, err := decodeClientObject(data)
	if err != nil {
		return ""
	}
	return obj.id()
}

// MapCustomer maps a Robaws client object (the raw JSON of a delivery's
// data, or one item of a clients page) to a customer, following SPEC §2.
// Raw is set to a copy of data. Version is data.updatedAt when it parses as
// RFC 3339 (fractional seconds allowed), in UTC, else zero: the caller then
// uses the signature timestamp or the sync fetch time. CreatedAt, UpdatedAt,
// Source and LastEventID are left for the store.
//
// It returns an error when data is not a JSON object, and ErrMissingClientID
// (unwrapped) when id is missing, null, empty or neither a string nor a
// number.
func MapCustomer(data []byte, m Mapping) (*store.Customer, error) {
	m = m.withDefaults()
	obj, err := decodeClientObject(data)
	if err != nil {
		return nil, err
	}
	id := obj.id()
	if id == "" {
		return nil, ErrMissingClientID
	}
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
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			c.Version = t.UTC()
		}
	}
	return c, nil
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
func (o clientObject) address() store.Address {
	var a clientObject
	if raw := bytes.TrimSpace(o["address"]); len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &a) // already validated as part of data
	}
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
func (o clientObject) isActive() bool {
	raw := bytes.TrimSpace(o["isActive"])
	switch {
	case bytes.Equal(raw, []byte("false")):
		return false
	case len(raw) > 0 && raw[0] == '"':
		if b, err := strconv.ParseBool(strings.ToLower(scalarText(raw))); err == nil {
			return b
		}
	}
	return true
}

// extraField is one entry of data.extraFields.
type extraField struct {
	key   string
	value json.RawMessage
}

// extraFieldList is data.extraFields in payload order, which the fallback
// rule ("the first key containing role") depends on; a map would lose it.
type extraFieldList []extraField

// extraFields decodes the extraFields object keeping key order. Anything
// other than an object yields no fields.
func extraFields(raw json.RawMessage) extraFieldList {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var list extraFieldList
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
		list = append(list, extraField{key: key, value: v})
	}
	return list
}

// lookup returns the value of the field whose key equals name
// case-insensitively (the first such key in payload order), else of the
// first key whose lower-cased form contains substr. ok is false when no key
// matches. A matching key decides even when its value is empty: an emptied
// Role field reads as no role rather than falling back to another field.
func (l extraFieldList) lookup(name, substr string) (value string, ok bool) {
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
func (f extraField) text() string {
	raw := bytes.TrimSpace(f.value)
	if len(raw) > 0 && raw[0] == '{' {
		var obj clientObject
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		return obj.text("stringValue", "value", "textValue")
	}
	return scalarText(raw)
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

// callingCodes maps ISO 3166 alpha-2 countries to their international
// calling codes: the EU/EEA, the European microstates, GB, CH, US/CA, AE, TR
// and MA.
var callingCodes = map[string]string{
	"AT": "43", "BE": "32", "BG": "359", "HR": "385", "CY": "357", "CZ": "420",
	"DK": "45", "EE": "372", "FI": "358", "FR": "33", "DE": "49", "GR": "30",
	"HU": "36", "IE": "353", "IT": "39", "LV": "371", "LT": "370", "LU": "352",
	"MT": "356", "NL": "31", "PL": "48", "PT": "351", "RO": "40", "SK": "421",
	"SI": "386", "ES": "34", "SE": "46",
	"IS": "354", "LI": "423", "NO": "47",
	"AD": "376", "MC": "377", "SM": "378", "VA": "39",
	"GB": "44", "CH": "41", "US": "1", "CA": "1", "AE": "971", "TR": "90", "MA": "212",
}

// keepsTrunkZero lists countries whose leading 0 is part of the number, not
// a trunk prefix: Rome is 06… nationally and +39 06… internationally.
var keepsTrunkZero = map[string]bool{"IT": true, "SM": true, "VA": true}

// NormalizePhone normalises a phone number (SPEC §2) and returns "" for an
// empty one. It keeps the digits and a leading "+", dropping spaces and the
// separators . - / ( ); "00…" becomes "+…"; a national number with a leading
// 0 becomes +<calling code of defaultCountry> without the 0 (default "BE",
// +32; Italy, San Marino and the Vatican keep the 0). A "(0)" after an
// international prefix, as in "+32 (0)2 …", is dropped. Digits with neither
// a leading 0 nor a "+" are returned as digits only: no country is invented.
// A number that cannot be normalised is returned as given, trimmed: one with
// letters or other characters, a "+" elsewhere than in front, fewer than 6
// digits (as given or once normalised), more than 15 once normalised (the
// E.164 limit), a country code starting with 0, or a national number when
// defaultCountry has no known calling code.
func NormalizePhone(s, defaultCountry string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	body, plus := strings.CutPrefix(s, "+")
	if plus || strings.HasPrefix(s, "00") {
		body = strings.ReplaceAll(body, "(0)", "")
	}
	var b strings.Builder
	for _, r := range body {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case unicode.IsSpace(r) || strings.ContainsRune(".-/()", r):
		default:
			return s
		}
	}
	digits := b.String()
	if len(digits) < 6 {
		return s
	}
	switch {
	case plus:
		// digits is already the country code and number.
	case strings.HasPrefix(digits, "00"):
		digits = digits[2:]
	case digits[0] == '0':
		cc := countryOrDefault(defaultCountry)
		code, ok := callingCodes[cc]
		if !ok {
			return s
		}
		if !keepsTrunkZero[cc] {
			digits = digits[1:]
		}
		digits = code + digits
	default:
		return digits
	}
	if len(digits) < 6 || len(digits) > 15 || digits[0] == '0' {
		return s
	}
	return "+" + digits
}

// NormalizeVAT normalises a VAT number (SPEC §2) and returns "" for an empty
// one. It removes whitespace, dots and dashes and upper-cases the rest; a
// number of digits only gets defaultCountry as prefix (default "BE"; Greece
// uses its VAT prefix "EL"). Anything else, including an existing two-letter
// prefix, is kept as cleaned.
func NormalizeVAT(s, defaultCountry string) string {
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '.' || unicode.Is(unicode.Pd, r) {
			return -1
		}
		return r
	}, s))
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return s
	}
	cc := countryOrDefault(defaultCountry)
	if cc == "GR" {
		cc = "EL"
	}
	return cc + s
}
