package app

import (
	"bytes"
	"fmt"
	"strings"
)

// SignatureAge says how far a signature's timestamp was from the
// delivery's arrival, for people: "4 s before it arrived", "1117 days
// before it arrived", or, for a timestamp in the future, "2 h 5 min after
// it arrived (the signer's clock is ahead)". Pages and the CLI print it
// after the signing date.
func SignatureAge(ageSeconds int64) string {
	if ageSeconds < 0 {
		return roughDuration(-ageSeconds) + " after it arrived (the signer's clock is ahead)"
	}
	return roughDuration(ageSeconds) + " before it arrived"
}

// roughDuration renders s seconds in the two largest units people use:
// "0 s", "59 s", "4 min 10 s", "2 h 5 min", "3 days 4 h", "1117 days".
func roughDuration(s int64) string {
	const minute, hour, day = 60, 3600, 86400
	switch {
	case s < minute:
		return fmt.Sprintf("%d s", s)
	case s < hour:
		return withRest(s/minute, "min", s%minute, "s")
	case s < day:
		return withRest(s/hour, "h", s%hour/minute, "min")
	case s < 30*day:
		return withRest(s/day, "days", s%day/hour, "h")
	}
	return fmt.Sprintf("%d days", s/day)
}

// withRest is "n unit", then " rest restUnit" when rest is not 0.
func withRest(n int64, unit string, rest int64, restUnit string) string {
	if n == 1 && unit == "days" {
		unit = "day"
	}
	if rest == 0 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %s %d %s", n, unit, rest, restUnit)
}

// optional returns nil for "", so that the field reads as JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// bidiControls are Unicode's bidirectional formatting characters: the
// embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069, the
// marks U+200E, U+200F and U+061C. Stored text is anyone's (a rejected
// delivery is kept too), and one RIGHT-TO-LEFT OVERRIDE makes a page show
// "gpj.exe" as "exe.jpg" (visual spoofing).
const bidiControls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

// bidiEscaper shows each bidi control as a visible \uXXXX marker.
var bidiEscaper = func() *strings.Replacer {
	var pairs []string
	for _, r := range bidiControls {
		pairs = append(pairs, string(r), fmt.Sprintf(`\u%04X`, r))
	}
	return strings.NewReplacer(pairs...)
}()

// escapeBidi returns page with every bidi control shown as a marker. The
// markers are plain ASCII, so an escaped page stays well-formed HTML.
func escapeBidi(page []byte) []byte {
	if !bytes.ContainsAny(page, bidiControls) {
		return page
	}
	return []byte(bidiEscaper.Replace(string(page)))
}
