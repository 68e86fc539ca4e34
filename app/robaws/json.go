package robaws

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// The JSON helpers below read ids and messages out of Robaws' answers. They
// repeat the customer mapping's (app/customer) rules for a scalar, so that a
// webhook or client id reads the same here as in a delivery, without this
// package importing that one (STYLE §2).

// scalarText returns a JSON string trimmed, or a JSON number in plain
// decimal notation; anything else (null, bool, object, array) is "".
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

// itemID returns the id of a Robaws client object, or "" when it has none,
// to label a client the syncer could not map.
func itemID(item json.RawMessage) string {
	var obj struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(item, &obj) != nil {
		return ""
	}
	return scalarText(obj.ID)
}
