package customer

import (
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in      string
		country string
		want    string
	}{
		// SPEC examples.
		{"0471 12 34 56", "", "+32471123456"},
		{"0032 3 123 45 67", "", "+3231234567"},
		{"+971 55 965 9999", "", "+971559659999"},
		{"02 555 12 12", "", "+3225551212"},
		{"0031 10 123 4567", "", "+31101234567"},

		{"", "", ""},
		{"   ", "", ""},
		{"0471 12 34 56", "BE", "+32471123456"},
		{"0471/12.34.56", "BE", "+32471123456"},
		{"(02) 555-12-12", "BE", "+3225551212"},
		{"+32 (0)2 555 12 12", "", "+3225551212"},
		{"0032 (0)2 555 12 12", "", "+3225551212"},
		{"+32471123456", "", "+32471123456"},
		{" +32 471 12 34 56 ", "", "+32471123456"},
		// National numbers take the default country's calling code.
		{"06 12345678", "NL", "+31612345678"},
		{"030 1234567", "de", "+49301234567"},
		{"01 23 45 67 89", "FR", "+33123456789"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"044 668 18 00", "CH", "+41446681800"},
		{"055 965 9999", "AE", "+971559659999"},
		{"0212 555 12 34", "TR", "+902125551234"},
		{"0522 12 34 56", "MA", "+212522123456"},
		// Italy keeps its leading 0.
		{"06 1234 5678", "IT", "+390612345678"},
		// Never invent a country for a number that has one.
		{"+31 10 123 4567", "BE", "+31101234567"},
		{"0044 20 7946 0958", "BE", "+442079460958"},
		{"+1 (212) 555-0100", "BE", "+12125550100"},
		// Digits with neither 0 nor + are kept as digits only.
		{"471 12 34 56", "BE", "471123456"},
		{"32-471-12-34-56", "BE", "32471123456"},
		// Cannot be normalised: kept as given, trimmed.
		{" unknown ", "BE", "unknown"},
		{"0471 12 34 56 ext 12", "BE", "0471 12 34 56 ext 12"},
		{"+32 471 12 34 56 (ask for Jan)", "BE", "+32 471 12 34 56 (ask for Jan)"},
		{"12345", "BE", "12345"},
		{"0 12 34", "BE", "0 12 34"},
		{"+32 123", "BE", "+32 123"},
		{"0471+123456", "BE", "0471+123456"},
		{"++32 471 12 34 56", "BE", "++32 471 12 34 56"},
		{"0471 12 34 56 #2", "BE", "0471 12 34 56 #2"},
		{"0471 12 34 56", "XX", "0471 12 34 56"},
		{"+0471 12 34 56", "BE", "+0471 12 34 56"},
		{"000 471 12 34 56", "BE", "000 471 12 34 56"},
		{"00 1234", "BE", "00 1234"},
		{"+32 471 12 34 56 78 90 12", "BE", "+32 471 12 34 56 78 90 12"},
		{"---", "BE", "---"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.country, func(t *testing.T) {
			got := NormalizePhone(tt.in, tt.country)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if again := NormalizePhone(got, tt.country); again != got {
				t.Errorf("not idempotent: got %q, want %q", again, got)
			}
		})
	}
}

func TestNormalizeVAT(t *testing.T) {
	tests := []struct {
		in      string
		country string
		want    string
	}{
		// SPEC examples.
		{"BE 0437.311.533", "", "BE0437311533"},
		{"0123456749", "", "BE0123456749"},
		{"nl-8524.33.981.b01", "", "NL852433981B01"},

		{"", "", ""},
		{" .-. ", "", ""},
		{"BE0437311533", "", "BE0437311533"},
		{"be 0437 311 533", "", "BE0437311533"},
		{"0437\u00a0311\u2013533", "", "BE0437311533"},
		{"0123456749", "be", "BE0123456749"},
		{"123456789", "NL", "NL123456789"},
		{"094259216", "GR", "EL094259216"},
		// An existing prefix is kept, whatever the default country.
		{"DE 123 456 789", "BE", "DE123456789"},
		{"CHE-123.456.789", "BE", "CHE123456789"},
		// Not digits only: kept as cleaned.
		{"FR XX 123456789", "BE", "FRXX123456789"},
		{"B0437311533", "BE", "B0437311533"},
		{"0437/311/533", "BE", "0437/311/533"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.country, func(t *testing.T) {
			got := NormalizeVAT(tt.in, tt.country)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if again := NormalizeVAT(got, tt.country); again != got {
				t.Errorf("not idempotent: got %q, want %q", again, got)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{`"x"`, "x"},
		{` " x\t" `, "x"},
		{`"caf\u00e9"`, "café"},
		{`2030`, "2030"},
		{`-1.50`, "-1.5"},
		{`1e1001`, "1e1001"},
		{`null`, ""},
		{`false`, ""},
		{`{"a":1}`, ""},
		{`[1]`, ""},
		{`"unterminated`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := Text([]byte(tt.raw)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
