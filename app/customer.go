package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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

// clientObject is a decoded JSON object (a Robaws client object, its
// address, an extraFields entry): its members in payload order, keys
// unescaped and values as the bytes they were in the input. Keys match
// exactly, as Robaws sends them (camelCase); get returns the last of a
// repeated key, as decoding into a map would, while extraFields keeps every
// member in order.
type clientObject []jsonMember

// jsonMember is one member of a JSON object. key is decoded (it is a
// slice of the input unless the key holds escapes).
type jsonMember struct {
	key []byte
	val []byte
}

// decodeClientObject parses data (a JSON object, surrounding whitespace
// allowed) in one pass, appending its members to buf. Its errors are those
// of json.Unmarshal.
func decodeClientObject(data []byte, buf clientObject) (clientObject, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return buf, errors.New("data is not a JSON object")
	}
	obj, ok := parseObject(data, buf)
	if !ok {
		// Let encoding/json describe what is wrong.
		var m map[string]json.RawMessage
		err := json.Unmarshal(data, &m)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return buf, fmt.Errorf("decode data: %w", err)
	}
	return obj, nil
}

// objects recycles member lists, so that parsing a client object does not
// allocate them again each time. Members point into the parsed bytes; put
// clears them so the pool keeps no payload alive.
var objects = sync.Pool{New: func() any { o := make(clientObject, 0, 32); return &o }}

func getObject() *clientObject { return objects.Get().(*clientObject) }

// putObject returns o to the pool; used is what o's list grew into.
func putObject(o *clientObject, used clientObject) {
	if cap(used) >= cap(*o) {
		*o = used
	}
	clear((*o)[:cap(*o)])
	*o = (*o)[:0]
	objects.Put(o)
}

// get returns the value of the last member named key, or nil.
func (o clientObject) get(key string) []byte {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].key) == key {
			return o[i].val
		}
	}
	return nil
}

// object parses the object value of key into buf; it returns buf empty
// when key is missing or not an object. o must come from parseObject, so
// the value is valid JSON.
func (o clientObject) object(key string, buf clientObject) clientObject {
	raw := o.get(key)
	if len(raw) == 0 || raw[0] != '{' {
		return buf[:0]
	}
	obj, _ := parseObject(raw, buf[:0])
	return obj
}

// text returns the trimmed text of the first key with a non-empty value.
func (o clientObject) text(keys ...string) string {
	for _, k := range keys {
		if s := scalarText(o.get(k)); s != "" {
			return s
		}
	}
	return ""
}

// id returns data.id as a string, or "" when it is missing, null, empty or
// neither a string nor a number.
func (o clientObject) id() string {
	return scalarText(o.get("id"))
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
		if inner, ok := plainString(raw); ok {
			return string(bytes.TrimSpace(inner))
		}
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

// plainString returns the contents of the JSON string token raw when
// decoding it is the identity: no escapes, no control characters, valid
// UTF-8. Otherwise ok is false and encoding/json has to decode it.
func plainString(raw []byte) (inner []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner = raw[1 : len(raw)-1]
	ascii := true
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(inner) {
		return nil, false
	}
	return inner, true
}

// decodeString decodes the JSON string token raw (as json.Unmarshal into a
// string would); ok is false when raw is not a string.
func decodeString(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if inner, ok := plainString(raw); ok {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// maxJSONDepth is encoding/json's nesting limit, so that parseObject
// accepts exactly what json.Valid accepts.
const maxJSONDepth = 10000

// parseObject parses data, which must be one JSON object with optional
// whitespace (JSON's four characters) around it, and appends its members to
// dst. ok is false when data is not valid JSON, as json.Valid judges it.
// Nested values are checked but not decoded.
func parseObject(data []byte, dst clientObject) (obj clientObject, ok bool) {
	s := jsonScanner{data: data}
	s.ws()
	if s.i >= len(data) || data[s.i] != '{' {
		return nil, false
	}
	if !s.object(&dst) {
		return nil, false
	}
	s.ws()
	if s.i != len(data) {
		return nil, false
	}
	return dst, true
}

// jsonScanner checks JSON syntax exactly as encoding/json's scanner does.
type jsonScanner struct {
	data  []byte
	i     int
	depth int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value starting at s.i.
func (s *jsonScanner) value() bool {
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

// object scans an object starting at its '{', appending its members to
// members when that is not nil.
func (s *jsonScanner) object(members *clientObject) bool {
	if s.depth++; s.depth > maxJSONDepth {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return false
		}
		kstart := s.i
		plain, ok := s.str()
		if !ok {
			return false
		}
		kend := s.i
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		vstart := s.i
		if !s.value() {
			return false
		}
		if members != nil {
			key := s.data[kstart+1 : kend-1]
			if !plain {
				k, ok := decodeString(s.data[kstart:kend])
				if !ok {
					return false
				}
				key = []byte(k)
			}
			*members = append(*members, jsonMember{key: key, val: s.data[vstart:s.i]})
		}
		s.ws()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

func (s *jsonScanner) array() bool {
	if s.depth++; s.depth > maxJSONDepth {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.ws()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// str scans a string starting at its '"'. plain reports that it holds only
// printable ASCII without escapes, so its bytes are its value.
func (s *jsonScanner) str() (plain, ok bool) {
	d := s.data
	plain = true
	for i := s.i + 1; i < len(d); {
		c := d[i]
		switch {
		case c == '"':
			s.i = i + 1
			return plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(d) {
				return false, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		default:
			if c >= utf8.RuneSelf {
				plain = false
			}
			i++
		}
	}
	return false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *jsonScanner) literal(lit string) bool {
	if len(s.data)-s.i < len(lit) || string(s.data[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
	d, i := s.data, s.i
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return false
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.i = i
	return true
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
	buf := getObject()
	obj, err := decodeClientObject(data, *buf)
	defer putObject(buf, obj)
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
	buf := getObject()
	obj, err := decodeClientObject(data, *buf)
	defer putObject(buf, obj)
	if err != nil {
		return nil, err
	}
	return mapClient(obj, bytes.Clone(data), m.withDefaults())
}

// mapClient is MapCustomer over data already parsed into obj; raw becomes
// the customer's Raw as it is, and m must have its defaults.
func mapClient(obj clientObject, raw []byte, m Mapping) (*store.Customer, error) {
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
		Raw:        raw,
	}
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	buf := getObject()
	fields := obj.object("extraFields", *buf)
	if v, ok := lookupField(fields, m.RoleField, "role"); ok {
		c.Role = optional(strings.ToUpper(v))
	}
	if v, ok := lookupField(fields, m.PricingField, "pricing"); ok {
		c.PricingCode = pricingCode(v)
	}
	putObject(buf, fields)
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
	buf := getObject()
	a := o.object("address", *buf)
	defer putObject(buf, a)
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
	raw := bytes.TrimSpace(o.get("isActive"))
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

// lookupField searches data.extraFields, in payload order (which the
// fallback rule "the first key containing role" depends on; a map would
// lose it), for the field whose key equals name case-insensitively (the
// first such key), else the first key whose lower-cased form contains
// substr, and returns its value. ok is false when no key matches. A matching
// key decides even when its value is empty: an emptied Role field reads as
// no role rather than falling back to another field.
func lookupField(fields clientObject, name, substr string) (value string, ok bool) {
	for _, f := range fields {
		if strings.EqualFold(string(f.key), name) {
			return fieldText(f.val), true
		}
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(string(f.key)), substr) {
			return fieldText(f.val), true
		}
	}
	return "", false
}

// fieldText returns an extraFields value: stringValue, else value, else
// textValue (the first non-empty), or the field itself when it is a plain
// string.
func fieldText(raw []byte) string {
	if len(raw) > 0 && raw[0] == '{' {
		buf := getObject()
		obj, _ := parseObject(raw, *buf)
		defer putObject(buf, obj)
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
