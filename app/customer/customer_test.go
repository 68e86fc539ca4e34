package customer

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/robaws-edge/robaws-edge/store"
)

// robawsFixtures are the Robaws payloads copied into this repository.
const robawsFixtures = "testdata/robaws"

func ptr(s string) *string { return &s }

// readFixture returns the bytes of a file, failing the test if it is missing.
func readFixture(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return b
}

// envelopeData returns data from a delivery envelope file.
func envelopeData(tb testing.TB, name string) []byte {
	tb.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(readFixture(tb, filepath.Join(robawsFixtures, name)), &env); err != nil {
		tb.Fatalf("decode %s: %v", name, err)
	}
	return env.Data
}

// pageItem returns items[i] from a clients page file.
func pageItem(tb testing.TB, name string, i int) []byte {
	tb.Helper()
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(readFixture(tb, filepath.Join(robawsFixtures, name)), &page); err != nil {
		tb.Fatalf("decode %s: %v", name, err)
	}
	if i >= len(page.Items) {
		tb.Fatalf("%s: got %d items, want more than %d", name, len(page.Items), i)
	}
	return page.Items[i]
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t.UTC()
}

// mapCustomer maps data and checks Raw, which it then clears so that the
// rest compares with cmp.Diff.
func mapCustomer(tb testing.TB, data []byte, m Mapping) *store.Customer {
	tb.Helper()
	c, err := Map(data, m)
	if err != nil {
		tb.Fatalf("Map: got error %v, want nil", err)
	}
	if !bytes.Equal(c.Raw, data) {
		tb.Errorf("Raw: got %s, want %s", c.Raw, data)
	}
	c.Raw = nil
	return c
}

func TestMapFixtures(t *testing.T) {
	dupont := func(role *string) *store.Customer {
		return &store.Customer{
			ID:        "218",
			Name:      "Transports Dupont SA",
			Email:     ptr("planning@dupont-transports.example"),
			Phone:     ptr("+3225551212"),
			VATNumber: ptr("BE0123456749"),
			Address: store.Address{
				Line1:      ptr("Rue de la Gare 12"),
				PostalCode: ptr("1000"),
				City:       ptr("Bruxelles"),
				Country:    ptr("Belgium"),
			},
			Role:     role,
			Currency: "EUR",
			IsActive: true,
			Version:  mustTime(t, "2026-11-30T07:45:00Z"),
		}
	}
	tests := []struct {
		name    string
		data    []byte
		mapping Mapping
		want    *store.Customer
	}{
		{
			name: "client-created",
			data: envelopeData(t, "client-created.json"),
			want: &store.Customer{
				ID:        "3473",
				Name:      "222 CARS",
				Email:     ptr("info@222motors.example"),
				Phone:     ptr("+971559659999"),
				Mobile:    ptr("+32471123456"),
				VATNumber: ptr("BE0437311533"),
				Address: store.Address{
					Line1:      ptr("Noorderlaan 147"),
					PostalCode: ptr("2030"),
					City:       ptr("Antwerpen"),
					Country:    ptr("Belgium"),
				},
				Role:        ptr("LUXURY CAR DEALER"),
				PricingCode: ptr("B"),
				Website:     ptr("https://www.222motors.example"),
				Language:    ptr("en"),
				Currency:    "EUR",
				IsActive:    true,
				Version:     mustTime(t, "2026-11-28T09:12:44.120Z"),
			},
		},
		{
			name: "client-updated",
			data: envelopeData(t, "client-updated.json"),
			want: &store.Customer{
				ID:        "3473",
				Name:      "222 CARS",
				Email:     ptr("sales@222motors.example"),
				Phone:     ptr("+971559659999"),
				Mobile:    ptr("+32471123456"),
				VATNumber: ptr("BE0437311533"),
				Address: store.Address{
					Line1:      ptr("Noorderlaan 147"),
					Line2:      ptr("Gate 3"),
					PostalCode: ptr("2030"),
					City:       ptr("Antwerpen"),
					Country:    ptr("Belgium"),
				},
				Role:        ptr("FORWARDER"),
				PricingCode: ptr("A"),
				Website:     ptr("https://www.222motors.example"),
				Language:    ptr("en"),
				Currency:    "EUR",
				IsActive:    true,
				Version:     mustTime(t, "2026-11-29T14:03:10.5Z"),
			},
		},
		{
			name:    "uuid extraFields, role field configured by UUID",
			data:    envelopeData(t, "client-updated-uuid-extrafields.json"),
			mapping: Mapping{RoleField: "9F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"},
			want:    dupont(ptr("TRANSPORT COMPANY")),
		},
		{
			name:    "uuid extraFields, role field UUID in lower case",
			data:    envelopeData(t, "client-updated-uuid-extrafields.json"),
			mapping: Mapping{RoleField: "9f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
			want:    dupont(ptr("TRANSPORT COMPANY")),
		},
		{
			// No key equals "Role" and none contains "role": the fallback finds nothing.
			name: "uuid extraFields, default role field",
			data: envelopeData(t, "client-updated-uuid-extrafields.json"),
			want: dupont(nil),
		},
		{
			name: "clients-page-0 item 0",
			data: pageItem(t, "clients-page-0.json", 0),
			want: &store.Customer{
				ID:    "218",
				Name:  "Transports Dupont SA",
				Email: ptr("planning@dupont-transports.example"),
				Phone: ptr("+3225551212"),
				Address: store.Address{
					Line1:      ptr("Rue de la Gare 12"),
					PostalCode: ptr("1000"),
					City:       ptr("Bruxelles"),
					Country:    ptr("Belgium"),
				},
				Role:     ptr("TRANSPORT COMPANY"),
				Language: ptr("fr"),
				Currency: "EUR",
				IsActive: true,
				Version:  mustTime(t, "2026-11-30T07:45:00Z"),
			},
		},
		{
			name: "clients-page-0 item 1",
			data: pageItem(t, "clients-page-0.json", 1),
			want: &store.Customer{
				ID:     "3473",
				Name:   "222 CARS",
				Email:  ptr("sales@222motors.example"),
				Phone:  ptr("+971559659999"),
				Mobile: ptr("+32471123456"),
				Address: store.Address{
					Line1:      ptr("Noorderlaan 147"),
					PostalCode: ptr("2030"),
					City:       ptr("Antwerpen"),
					Country:    ptr("Belgium"),
				},
				Role:     ptr("FORWARDER"),
				Language: ptr("en"),
				Currency: "EUR",
				IsActive: true,
				Version:  mustTime(t, "2026-11-29T14:03:10.5Z"),
			},
		},
		{
			// No updatedAt: Version stays zero for the caller to fill.
			name: "clients-page-0 item 2",
			data: pageItem(t, "clients-page-0.json", 2),
			want: &store.Customer{
				ID:    "4102",
				Name:  "Van den Berg Logistics BV",
				Email: ptr("info@vdberg.example"),
				Phone: ptr("+31101234567"),
				Address: store.Address{
					Line1:      ptr("Waalhaven 5"),
					PostalCode: ptr("3089 JH"),
					City:       ptr("Rotterdam"),
					Country:    ptr("Netherlands"),
				},
				Language: ptr("nl"),
				Currency: "EUR",
				IsActive: true,
			},
		},
		{
			name:    "testdata alternate-fields",
			data:    readFixture(t, "testdata/alternate-fields.json"),
			mapping: Mapping{DefaultCountry: "NL"},
			want: &store.Customer{
				ID:        "4102",
				Name:      "Van den Berg Logistics BV",
				Email:     ptr("info@vdberg.example"),
				Phone:     ptr("+31101234567"),
				Mobile:    ptr("+31612345678"),
				VATNumber: ptr("NL852433981B01"),
				Address: store.Address{
					Line1:        ptr("Waalhaven Zuidzijde 5"),
					Street:       ptr("Waalhaven Zuidzijde"),
					StreetNumber: ptr("5"),
					PostalCode:   ptr("3089 JH"),
					City:         ptr("Rotterdam"),
					Country:      ptr("Netherlands"),
					CountryCode:  ptr("NL"),
				},
				Role:        ptr("FREIGHT FORWARDER"),
				PricingCode: ptr("C"),
				Language:    ptr("nl"),
				Currency:    "EUR",
				ClientType:  ptr("COMPANY"),
				IsActive:    false,
				Version:     mustTime(t, "2026-11-30T07:45:00Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapCustomer(t, tt.data, tt.mapping)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(store.Customer{})); diff != "" {
				t.Errorf("Map mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMapPayloadOrder checks that the fallback takes the first key
// containing "role" in payload order, and that a key equal to the configured
// field wins over an earlier key that merely contains its name.
func TestMapPayloadOrder(t *testing.T) {
	file := readFixture(t, "testdata/role-order.json")
	swapped := []byte(`{"id":"77","extraFields":{"Primary ROLE":{"stringValue":"first"},"Secondary role":{"stringValue":"second"}}}`)
	tests := []struct {
		name        string
		data        []byte
		mapping     Mapping
		wantRole    *string
		wantPricing *string
	}{
		{name: "file, default fields", data: file, wantRole: ptr("SECOND"), wantPricing: ptr("B")},
		{name: "file, configured role field", data: file, mapping: Mapping{RoleField: "primary role"}, wantRole: ptr("FIRST"), wantPricing: ptr("B")},
		{name: "file, configured fields absent", data: file, mapping: Mapping{RoleField: "Kind", PricingField: "Tier"}, wantRole: ptr("SECOND"), wantPricing: ptr("A")},
		{name: "swapped order", data: swapped, wantRole: ptr("FIRST")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapCustomer(t, tt.data, tt.mapping)
			if diff := cmp.Diff(tt.wantRole, got.Role); diff != "" {
				t.Errorf("role mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPricing, got.PricingCode); diff != "" {
				t.Errorf("pricing_code mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMapRules checks each SPEC §2 rule on a small payload.
func TestMapRules(t *testing.T) {
	deref := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	id := func(c *store.Customer) any { return c.ID }
	name := func(c *store.Customer) any { return c.Name }
	email := func(c *store.Customer) any { return deref(c.Email) }
	phone := func(c *store.Customer) any { return deref(c.Phone) }
	mobile := func(c *store.Customer) any { return deref(c.Mobile) }
	vat := func(c *store.Customer) any { return deref(c.VATNumber) }
	address := func(c *store.Customer) any { return c.Address }
	role := func(c *store.Customer) any { return deref(c.Role) }
	pricing := func(c *store.Customer) any { return deref(c.PricingCode) }
	website := func(c *store.Customer) any { return deref(c.Website) }
	language := func(c *store.Customer) any { return deref(c.Language) }
	currency := func(c *store.Customer) any { return c.Currency }
	clientType := func(c *store.Customer) any { return deref(c.ClientType) }
	active := func(c *store.Customer) any { return c.IsActive }
	version := func(c *store.Customer) any { return c.Version }

	tests := []struct {
		name    string
		data    string // the object without its braces; "id":"1" is prepended
		mapping Mapping
		field   func(*store.Customer) any
		want    any
	}{
		// id
		{name: "id string", data: `"id":"3473"`, field: id, want: "3473"},
		{name: "id string trimmed", data: `"id":" 3473 "`, field: id, want: "3473"},
		{name: "id number", data: `"id":218`, field: id, want: "218"},
		{name: "id number with .0", data: `"id":218.0`, field: id, want: "218"},
		{name: "id number with exponent", data: `"id":2.18e2`, field: id, want: "218"},
		{name: "id large number", data: `"id":123456789012345678901234567890`, field: id, want: "123456789012345678901234567890"},
		{name: "id zero", data: `"id":0`, field: id, want: "0"},

		// name
		{name: "name trimmed", data: `"name":"  222 CARS \n"`, field: name, want: "222 CARS"},
		{name: "name missing", data: ``, field: name, want: ""},
		{name: "name null", data: `"name":null`, field: name, want: ""},

		// email
		{name: "email trimmed and lower-cased", data: `"email":" Info@222Motors.EXAMPLE "`, field: email, want: "info@222motors.example"},
		{name: "email empty", data: `"email":"  "`, field: email, want: nil},
		{name: "email missing", data: ``, field: email, want: nil},

		// phone
		{name: "phone from tel", data: `"tel":"0471 12 34 56","phone":"02 555 12 12"`, field: phone, want: "+32471123456"},
		{name: "phone from phone when tel empty", data: `"tel":" ","phone":"02 555 12 12","telephone":"03 123 45 67"`, field: phone, want: "+3225551212"},
		{name: "phone from telephone", data: `"tel":null,"telephone":"03 123 45 67"`, field: phone, want: "+3231234567"},
		{name: "phone default country", data: `"tel":"020 123 4567"`, mapping: Mapping{DefaultCountry: "nl"}, field: phone, want: "+31201234567"},
		{name: "phone missing", data: ``, field: phone, want: nil},
		{name: "phone empty", data: `"tel":""`, field: phone, want: nil},
		{name: "phone kept as given", data: `"tel":" call reception "`, field: phone, want: "call reception"},

		// mobile
		{name: "mobile from gsm", data: `"gsm":"0471 12 34 56","mobile":"0472 00 00 00"`, field: mobile, want: "+32471123456"},
		{name: "mobile from mobile", data: `"gsm":"","mobile":"0472 00 00 00"`, field: mobile, want: "+32472000000"},
		{name: "mobile missing", data: `"tel":"0471 12 34 56"`, field: mobile, want: nil},

		// vat_number
		{name: "vat from vatNumber", data: `"vatNumber":"BE 0437.311.533","vat":"0123456749"`, field: vat, want: "BE0437311533"},
		{name: "vat from vat", data: `"vatNumber":"","vat":"0123456749"`, field: vat, want: "BE0123456749"},
		{name: "vat from vat_number", data: `"vat_number":"nl-8524.33.981.b01"`, field: vat, want: "NL852433981B01"},
		{name: "vat from btw", data: `"btw":"0437 311 533"`, field: vat, want: "BE0437311533"},
		{name: "vat default country", data: `"vatNumber":"123456789"`, mapping: Mapping{DefaultCountry: "FR"}, field: vat, want: "FR123456789"},
		{name: "vat empty after cleaning", data: `"vatNumber":" . - "`, field: vat, want: nil},
		{name: "vat missing", data: ``, field: vat, want: nil},

		// address
		{name: "address missing", data: ``, field: address, want: store.Address{}},
		{name: "address null", data: `"address":null`, field: address, want: store.Address{}},
		{name: "address not an object", data: `"address":"Noorderlaan 147"`, field: address, want: store.Address{}},
		{
			name:  "address all parts",
			data:  `"street":" Noorderlaan ","streetNumber":"147","countryCode":"BE","address":{"addressLine1":" Noorderlaan 147 ","addressLine2":"","postalCode":2030,"city":"Antwerpen","country":"Belgium"}`,
			field: address,
			want: store.Address{
				Line1: ptr("Noorderlaan 147"), Street: ptr("Noorderlaan"), StreetNumber: ptr("147"),
				PostalCode: ptr("2030"), City: ptr("Antwerpen"), Country: ptr("Belgium"), CountryCode: ptr("BE"),
			},
		},
		{
			name:  "address countryCode wins over top-level",
			data:  `"countryCode":"NL","address":{"countryCode":"BE"}`,
			field: address,
			want:  store.Address{CountryCode: ptr("BE")},
		},
		{
			name:  "address street from address object when absent at top level",
			data:  `"address":{"street":"Waalhaven","streetNumber":"5"}`,
			field: address,
			want:  store.Address{Street: ptr("Waalhaven"), StreetNumber: ptr("5")},
		},
		{
			name:  "address top-level street wins",
			data:  `"street":"Noorderlaan","address":{"street":"Waalhaven"}`,
			field: address,
			want:  store.Address{Street: ptr("Noorderlaan")},
		},

		// role
		{name: "role default field", data: `"extraFields":{"Role":{"stringValue":" forwarder "}}`, field: role, want: "FORWARDER"},
		{name: "role key case-insensitive", data: `"extraFields":{"ROLE":{"stringValue":"forwarder"}}`, field: role, want: "FORWARDER"},
		{name: "role configured field", data: `"extraFields":{"Role":{"stringValue":"a"},"Type":{"stringValue":"b"}}`, mapping: Mapping{RoleField: "type"}, field: role, want: "B"},
		{name: "role configured field wins over earlier role key", data: `"extraFields":{"Other role":{"stringValue":"a"},"role":{"stringValue":"b"}}`, field: role, want: "B"},
		{name: "role fallback contains role", data: `"extraFields":{"Klant":{"stringValue":"x"},"Customer Role":{"stringValue":"dealer"}}`, field: role, want: "DEALER"},
		{name: "role from value", data: `"extraFields":{"Role":{"stringValue":null,"value":"dealer","textValue":"other"}}`, field: role, want: "DEALER"},
		{name: "role from textValue", data: `"extraFields":{"Role":{"stringValue":"","textValue":"dealer"}}`, field: role, want: "DEALER"},
		{name: "role plain string", data: `"extraFields":{"Role":" dealer "}`, field: role, want: "DEALER"},
		{name: "role empty", data: `"extraFields":{"Role":{"stringValue":"  "}}`, field: role, want: nil},
		{name: "role empty does not fall back", data: `"extraFields":{"Role":{"stringValue":""},"Other role":{"stringValue":"x"}}`, field: role, want: nil},
		{name: "role no value key", data: `"extraFields":{"Role":{"booleanValue":true}}`, field: role, want: nil},
		{name: "role missing", data: `"extraFields":{"Pricing":{"stringValue":"A"}}`, field: role, want: nil},
		{name: "role extraFields missing", data: ``, field: role, want: nil},
		{name: "role extraFields not an object", data: `"extraFields":[{"Role":"x"}]`, field: role, want: nil},

		// pricing_code
		{name: "pricing A", data: `"extraFields":{"PRICING":{"stringValue":"A"}}`, field: pricing, want: "A"},
		{name: "pricing tier b", data: `"extraFields":{"pricing":{"stringValue":" tier b "}}`, field: pricing, want: "B"},
		{name: "pricing TIER  C collapsed", data: `"extraFields":{"PRICING":{"stringValue":"TIER  \t C"}}`, field: pricing, want: "C"},
		{name: "pricing plain string", data: `"extraFields":{"PRICING":"c"}`, field: pricing, want: "C"},
		{name: "pricing unknown", data: `"extraFields":{"PRICING":{"stringValue":"TIER D"}}`, field: pricing, want: nil},
		{name: "pricing TIERA", data: `"extraFields":{"PRICING":{"stringValue":"TIERA"}}`, field: pricing, want: nil},
		{name: "pricing fallback contains pricing", data: `"extraFields":{"Role":"x","Customer pricing":{"value":"Tier A"}}`, field: pricing, want: "A"},
		{name: "pricing configured field", data: `"extraFields":{"Tarief":{"stringValue":"B"}}`, mapping: Mapping{PricingField: "tarief"}, field: pricing, want: "B"},
		{name: "pricing missing", data: ``, field: pricing, want: nil},

		// website, language, currency, client_type
		{name: "website trimmed", data: `"website":" https://x.example "`, field: website, want: "https://x.example"},
		{name: "website empty", data: `"website":""`, field: website, want: nil},
		{name: "language", data: `"language":" nl "`, field: language, want: "nl"},
		{name: "language missing", data: ``, field: language, want: nil},
		{name: "currency", data: `"currency":" USD "`, field: currency, want: "USD"},
		{name: "currency default", data: ``, field: currency, want: "EUR"},
		{name: "currency empty", data: `"currency":" "`, field: currency, want: "EUR"},
		{name: "client_type", data: `"clientType":" COMPANY "`, field: clientType, want: "COMPANY"},
		{name: "client_type missing", data: ``, field: clientType, want: nil},

		// is_active
		{name: "is_active default", data: ``, field: active, want: true},
		{name: "is_active null", data: `"isActive":null`, field: active, want: true},
		{name: "is_active true", data: `"isActive":true`, field: active, want: true},
		{name: "is_active false", data: `"isActive":false`, field: active, want: false},
		{name: "is_active string false", data: `"isActive":" FALSE "`, field: active, want: false},
		{name: "is_active string true", data: `"isActive":"true"`, field: active, want: true},
		{name: "is_active other string", data: `"isActive":"no"`, field: active, want: true},

		// version
		{name: "version RFC 3339", data: `"updatedAt":"2026-11-30T07:45:00Z"`, field: version, want: mustTime(t, "2026-11-30T07:45:00Z")},
		{name: "version fractional seconds", data: `"updatedAt":"2026-11-28T09:12:44.120Z"`, field: version, want: mustTime(t, "2026-11-28T09:12:44.12Z")},
		{name: "version offset in UTC", data: `"updatedAt":"2026-11-30T08:45:00+01:00"`, field: version, want: mustTime(t, "2026-11-30T07:45:00Z")},
		{name: "version unparseable", data: `"updatedAt":"30/11/2026 07:45"`, field: version, want: time.Time{}},
		{name: "version not a string", data: `"updatedAt":1764488700`, field: version, want: time.Time{}},
		{name: "version past year 9999 in UTC", data: `"updatedAt":"9999-12-31T23:30:00-01:00"`, field: version, want: time.Time{}},
		{name: "version before year 0 in UTC", data: `"updatedAt":"0000-01-01T00:00:00+01:00"`, field: version, want: time.Time{}},
		{name: "version in year 9999", data: `"updatedAt":"9999-12-31T22:30:00-01:00"`, field: version, want: mustTime(t, "9999-12-31T23:30:00Z")},
		{name: "version missing", data: ``, field: version, want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := `{"id":"1"`
			if tt.data != "" {
				data += "," + tt.data
			}
			data += "}"
			c := mapCustomer(t, []byte(data), tt.mapping)
			if got := tt.field(c); !cmp.Equal(got, tt.want) {
				t.Errorf("got %v, want %v\n%s", got, tt.want, cmp.Diff(tt.want, got))
			}
		})
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		wantMissing bool // want ErrMissingID, else another error
	}{
		{name: "id missing", data: `{"name":"x"}`, wantMissing: true},
		{name: "id null", data: `{"id":null}`, wantMissing: true},
		{name: "id empty", data: `{"id":""}`, wantMissing: true},
		{name: "id blank", data: `{"id":"  "}`, wantMissing: true},
		{name: "id bool", data: `{"id":true}`, wantMissing: true},
		{name: "id object", data: `{"id":{"value":1}}`, wantMissing: true},
		{name: "empty object", data: `{}`, wantMissing: true},
		{name: "array", data: `[{"id":"1"}]`},
		{name: "null", data: `null`},
		{name: "string", data: `"1"`},
		{name: "number", data: `1`},
		{name: "empty", data: ``},
		{name: "invalid JSON", data: `{"id":"1"`},
		{name: "trailing garbage", data: `{"id":"1"} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Map([]byte(tt.data), Mapping{})
			if err == nil {
				t.Fatalf("got customer %+v, want error", c)
			}
			if got := errors.Is(err, ErrMissingID); got != tt.wantMissing {
				t.Errorf("got error %q (ErrMissingID=%v), want ErrMissingID=%v", err, got, tt.wantMissing)
			}
			if tt.wantMissing && err.Error() != "data.id missing" {
				t.Errorf("got message %q, want %q", err, "data.id missing")
			}
		})
	}
}

func TestMapCopiesRaw(t *testing.T) {
	data := []byte(`{"id":"1","name":"x"}`)
	c, err := Map(data, Mapping{})
	if err != nil {
		t.Fatal(err)
	}
	data[1] = 'X'
	if got, want := string(c.Raw), `{"id":"1","name":"x"}`; got != want {
		t.Errorf("Raw after changing data: got %s, want %s", got, want)
	}
}
