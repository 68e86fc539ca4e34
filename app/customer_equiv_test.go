package app

// The reference implementation below is the parsing code as it was before
// the one-pass parser (encoding/json based); the tests check that the fast
// code answers exactly as it did.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/store"
)

type refEnvelope struct {
	ID    json.RawMessage `json:"id"`
	Event json.RawMessage `json:"event"`
	Data  json.RawMessage `json:"data"`
}

type refClientObject map[string]json.RawMessage

func refDecodeClientObject(data []byte) (refClientObject, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("data is not a JSON object")
	}
	var obj refClientObject
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	return obj, nil
}

// text returns the trimmed text of the first key with a non-empty value.
func (o refClientObject) text(keys ...string) string {
	for _, k := range keys {
		if s := refScalarText(o[k]); s != "" {
			return s
		}
	}
	return ""
}

// id returns data.id as a string, or "" when it is missing, null, empty or
// neither a string nor a number.
func (o refClientObject) id() string {
	return refScalarText(o["id"])
}

// scalarText returns a JSON string trimmed, or a JSON number in plain
// decimal notation; anything else (null, bool, object, array) is "".
// Accepting numbers keeps e.g. a numeric postalCode or id.
func refScalarText(raw json.RawMessage) string {
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

func refClientID(data []byte) string {
	obj, err := refDecodeClientObject(data)
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
func refMapCustomer(data []byte, m Mapping) (*store.Customer, error) {
	m = m.withDefaults()
	obj, err := refDecodeClientObject(data)
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
	fields := refExtraFields(obj["extraFields"])
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

func (o refClientObject) address() store.Address {
	var a refClientObject
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
func (o refClientObject) isActive() bool {
	raw := bytes.TrimSpace(o["isActive"])
	switch {
	case bytes.Equal(raw, []byte("false")):
		return false
	case len(raw) > 0 && raw[0] == '"':
		if b, err := strconv.ParseBool(strings.ToLower(refScalarText(raw))); err == nil {
			return b
		}
	}
	return true
}

// refExtraField is one entry of data.extraFields.
type refExtraField struct {
	key   string
	value json.RawMessage
}

// refExtraFieldList is data.extraFields in payload order, which the fallback
// rule ("the first key containing role") depends on; a map would lose it.
type refExtraFieldList []refExtraField

// extraFields decodes the extraFields object keeping key order. Anything
// other than an object yields no fields.
func refExtraFields(raw json.RawMessage) refExtraFieldList {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var list refExtraFieldList
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
		list = append(list, refExtraField{key: key, value: v})
	}
	return list
}

// lookup returns the value of the field whose key equals name
// case-insensitively (the first such key in payload order), else of the
// first key whose lower-cased form contains substr. ok is false when no key
// matches. A matching key decides even when its value is empty: an emptied
// Role field reads as no role rather than falling back to another field.
func (l refExtraFieldList) lookup(name, substr string) (value string, ok bool) {
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
func (f refExtraField) text() string {
	raw := bytes.TrimSpace(f.value)
	if len(raw) > 0 && raw[0] == '{' {
		var obj refClientObject
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		return obj.text("stringValue", "value", "textValue")
	}
	return refScalarText(raw)
}

func (r *Receiver) refDelivery(ep *Endpoint, body []byte, t int64) *store.Delivery {
	d := &store.Delivery{Endpoint: ep.Name, Payload: body, SignatureTimestamp: t}
	var env refEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		d.Status, d.Error = store.StatusFailed, "body is not a JSON object"
		return d
	}
	eventID, okID := refJSONString(env.ID)
	event, okEvent := refJSONString(env.Event)
	d.EventID, d.Event = eventID, event
	switch {
	case !okID:
		d.Status, d.Error = store.StatusFailed, "id missing or not a string"
		return d
	case !okEvent:
		d.Status, d.Error = store.StatusFailed, "event missing or not a string"
		return d
	case !refIsObject(env.Data):
		d.Status, d.Error = store.StatusFailed, "data missing or not an object"
		return d
	}
	d.ClientID = refClientID(env.Data)
	if !slices.Contains(ep.Events, event) {
		d.Status = store.StatusIgnored
		return d
	}
	if event != "client.created" && event != "client.updated" {
		return d // accepted, nothing else to do
	}
	c, err := refMapCustomer(env.Data, r.mapping)
	if err != nil {
		d.Status, d.Error = store.StatusFailed, err.Error()
		return d
	}
	if c.Version.IsZero() {
		c.Version = time.Unix(t, 0).UTC()
	}
	d.Customer = c
	return d
}

func refJSONString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, strings.TrimSpace(s) != ""
}

func refIsObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// equivSeeds returns bodies and client objects that exercise the corners of
// JSON decoding: escaped and repeated keys, key case, invalid UTF-8, odd
// whitespace, numbers, nesting, non-objects.
func equivSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, name := range []string{"client-created.json", "client-updated.json", "client-updated-uuid-extrafields.json", "clients-page-0.json"} {
		body := readFixture(tb, filepath.Join(robawsFixtures, name))
		seeds = append(seeds, body)
	}
	for _, name := range []string{"client-created.json", "client-updated.json", "client-updated-uuid-extrafields.json"} {
		seeds = append(seeds, envelopeData(tb, name))
	}
	for i := range 3 {
		seeds = append(seeds, pageItem(tb, "clients-page-0.json", i))
	}
	entries, _ := os.ReadDir("testdata/customers")
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata/customers", e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	deep := func(n int) []byte {
		return []byte(`{"id":1,"x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	for _, s := range []string{
		`{"id":"1","event":"client.updated","data":{"id":"7","name":"A"}}`,
		`{"ID":"1","Event":"client.updated","DATA":{"id":"7"},"data":{"id":"8"}}`,
		`{"\u0069d":"1","ev\u0065nt":"client.updated","d\u0061ta":{"\u0069d":"9","n\u0061me":"x\u00e9\ud83d\ude00"}}`,
		`{"id":"\ud800","event":"client.updated","data":{"id":"\udc00x"}}`,
		"{\"id\":\"a\xffb\",\"event\":\"client.updated\",\"data\":{\"id\":\"\xc3\x28\",\"name\":\"caf\xc3\xa9\"}}",
		"{\"id\xff\":\"a\",\"id\":\"b\"}",
		`{"id":" ","event":"client.updated","data":{"id":" 42 "}}`,
		`{"id":"1","event":"client.updated","data":[]}`,
		`{"id":"1","event":"client.updated","data":null}`,
		`{"id":"1","event":"client.updated","data":"x"}`,
		`{"id":1,"event":"client.updated","data":{}}`,
		`{"id":"1","event":"article.updated","data":{"id":5}}`,
		`{"id":"1","event":"client.created","data":{"id":5}}`,
		" \t\r\n{\"id\":\"1\",\"event\":\"client.created\",\"data\":{\"id\":5}} \n",
		"\v{\"id\":\"1\"}", "{\"id\":\"1\"}\v", "\u00a0{\"id\":\"1\"}", "{\"id\":\"1\"}\x00",
		`null`, ` null `, `nul`, `[]`, `"x"`, `1`, `true`, `{`, `}`, `{}`, `{"id"}`, `{"id":}`, `{"id":1,}`, `{,}`,
		`{"id":01}`, `{"id":-}`, `{"id":1.}`, `{"id":1e}`, `{"id":-0}`, `{"id":1E+2}`, `{"id":0.5e-3}`, `{"id":1e400}`, `{"id":2.18e2}`,
		`{"id":"a\q"}`, `{"id":"a\u12"}`, `{"id":"a\u12G4"}`, "{\"id\":\"a\x01\"}", `{"id":"a\/b\"c\\d\b\f\n\r\t"}`,
		`{"id":tru}`, `{"id":truex}`, `{"id":[1,2,[3,{"a":null}]]}`, `{"id":[1,]}`, `{"id":[,1]}`, `{"id" : "1" , "a" : { } }`,
		`{"id":7,"isActive":"FALSE"}`, `{"id":7,"isActive":false}`, `{"id":7,"isActive":"0"}`, `{"id":7,"isActive":"nope"}`, `{"id":7,"isActive":0}`,
		`{"id":7,"address":{"addressLine1":"A","postalCode":2000,"countryCode":"BE"},"countryCode":"NL","street":"S","streetNumber":12}`,
		`{"id":7,"address":[1],"street":""}`, `{"id":7,"address":{"street":"in","streetNumber":"3"},"address":{"city":"last"}}`,
		`{"id":7,"extraFields":{"myrole":{"value":"x"},"ROLE":{"stringValue":" y "},"role":"z"}}`,
		`{"id":7,"extraFields":{"a-role":"first","b-role":"second","pricing":{"textValue":"tier  b"}}}`,
		`{"id":7,"extraFields":{"Role":{"stringValue":"","value":"v"},"Role":"dup"}}`,
		`{"id":7,"extraFields":{"Role":{"stringValue":1.50}},"currency":" usd ","email":" A@B.C "}`,
		`{"id":7,"extraFields":[{"Role":"x"}]}`, `{"id":7,"extraFields":{"R\u006fle":"esc","\u212Aey":"kelvin"}}`,
		`{"id":7,"updatedAt":"2026-01-02T03:04:05.123+02:00","tel":"+32 (0)471 12 34 56","gsm":"0032471123456","vat":"be 0437.311.245"}`,
		`{"id":7,"updatedAt":"2026-13-02T03:04:05Z","phone":"03 123 45 67","vatNumber":"0437311245","btw":"x"}`,
		`{"id":null}`, `{"id":true}`, `{"id":{}}`, `{"id":""}`, `{"id":"  "}`, `{"name":"no id"}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return append(seeds, deep(maxJSONDepth), deep(maxJSONDepth+1))
}

// TestParseObjectMatchesEncodingJSON checks parseObject against json.Valid
// and a map decode on the seeds; FuzzParseObject does the same on random
// input.
func TestParseObjectMatchesEncodingJSON(t *testing.T) {
	for _, data := range equivSeeds(t) {
		checkParseObject(t, data)
	}
}

func FuzzParseObject(f *testing.F) {
	for _, data := range equivSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(checkParseObject)
}

func checkParseObject(t *testing.T, data []byte) {
	obj, ok := parseObject(data, nil)
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	want := json.Valid(data) && len(trimmed) > 0 && trimmed[0] == '{'
	if ok != want {
		t.Fatalf("parseObject(%q): got ok %v, want %v", data, ok, want)
	}
	if !ok {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("parseObject(%q): json.Unmarshal: %v", data, err)
	}
	if len(m) == 0 && len(obj) != 0 || len(obj) < len(m) {
		t.Fatalf("parseObject(%q): got %d members, want %d keys", data, len(obj), len(m))
	}
	for k, v := range m {
		if got := obj.get(k); !bytes.Equal(got, v) {
			t.Fatalf("parseObject(%q): key %q: got %q, want %q", data, k, got, v)
		}
	}
	for _, mem := range obj {
		if _, ok := m[string(mem.key)]; !ok {
			t.Fatalf("parseObject(%q): key %q not in encoding/json's map", data, mem.key)
		}
	}
}

// TestMapCustomerMatchesReference checks MapCustomer and ClientID against
// the encoding/json implementation on the seeds; FuzzMapCustomerReference
// on random input.
func TestMapCustomerMatchesReference(t *testing.T) {
	for _, data := range equivSeeds(t) {
		checkMapCustomer(t, data)
	}
}

func FuzzMapCustomerReference(f *testing.F) {
	for _, data := range equivSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(checkMapCustomer)
}

var equivMappings = []Mapping{{}, {DefaultCountry: "nl", RoleField: "f0e1d2c3", PricingField: "tier"}}

func checkMapCustomer(t *testing.T, data []byte) {
	if got, want := ClientID(data), refClientID(data); got != want {
		t.Fatalf("ClientID(%q): got %q, want %q", data, got, want)
	}
	for _, m := range equivMappings {
		got, err := MapCustomer(data, m)
		want, wantErr := refMapCustomer(data, m)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || errors.Is(wantErr, ErrMissingClientID) != errors.Is(err, ErrMissingClientID) {
			t.Fatalf("MapCustomer(%q): got error %v, want %v", data, err, wantErr)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(store.Customer{})); diff != "" {
			t.Fatalf("MapCustomer(%q): (-want +got)\n%s", data, diff)
		}
	}
}

// TestDeliveryMatchesReference checks the receiver's one-pass parse of a
// body against the encoding/json implementation on the seeds;
// FuzzDeliveryReference on random input.
func TestDeliveryMatchesReference(t *testing.T) {
	for _, data := range equivSeeds(t) {
		checkDelivery(t, data)
	}
}

func FuzzDeliveryReference(f *testing.F) {
	for _, data := range equivSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(checkDelivery)
}

func checkDelivery(t *testing.T, body []byte) {
	r := &Receiver{mapping: Mapping{}.withDefaults()}
	ep := &Endpoint{Name: "customers", Events: []string{"client.created", "client.updated", "article.updated"}}
	got := r.delivery(ep, body, 1_700_000_000)
	want := r.refDelivery(ep, body, 1_700_000_000)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(store.Customer{})); diff != "" {
		t.Fatalf("delivery(%q): (-want +got)\n%s", body, diff)
	}
	var gotRej, wantRej [3]string
	if env, ok := parseEnvelope(body); ok {
		gotRej[0], _ = jsonString(env.ID)
		gotRej[1], _ = jsonString(env.Event)
		gotRej[2] = ClientID(env.Data)
	}
	var env refEnvelope
	if json.Unmarshal(body, &env) == nil {
		wantRej[0], _ = refJSONString(env.ID)
		wantRej[1], _ = refJSONString(env.Event)
		wantRej[2] = refClientID(env.Data)
	}
	if gotRej != wantRej {
		t.Fatalf("rejected labels of %q: got %q, want %q", body, gotRej, wantRej)
	}
}
