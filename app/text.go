package app

import (
	"bytes"
	"fmt"
	"strings"
)

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
