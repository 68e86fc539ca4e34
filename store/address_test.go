package store

import "testing"

// TestAddressOneLine: the one-line address people read (customers show,
// the console) keeps the street when Robaws sends it without
// addressLine1, and leaves nothing out that it has.
func TestAddressOneLine(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tt := range []struct {
		a    Address
		want string
	}{
		{Address{Street: s("Noorderlaan"), StreetNumber: s("147"), PostalCode: s("2030"), City: s("Antwerpen"), CountryCode: s("BE")},
			"Noorderlaan 147, 2030 Antwerpen, BE"},
		{Address{Line1: s("Noorderlaan 147"), Street: s("Noorderlaan"), StreetNumber: s("147"), Line2: s("bus 3"), City: s("Antwerpen"), Country: s("Belgium"), CountryCode: s("BE")},
			"Noorderlaan 147, bus 3, Antwerpen, Belgium"},
		{Address{Street: s("Waalhaven Zuidzijde")}, "Waalhaven Zuidzijde"},
		{Address{Line1: s("  "), StreetNumber: s("5"), City: s("Gent")}, "5, Gent"},
		{Address{}, ""},
	} {
		if got := tt.a.OneLine(); got != tt.want {
			t.Errorf("OneLine(%+v) = %q, want %q", tt.a, got, tt.want)
		}
	}
}
