package customer

import (
	"strings"
	"unicode"
)

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
