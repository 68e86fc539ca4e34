package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// Reasons a delivery is rejected (SPEC §1.3). Verify and Receive return
// exactly these values, unwrapped: their texts are the receiver's 401
// answers and the rejected log entries' reasons.
var (
	ErrMissingSignature = errors.New("missing signature")
	ErrMalformed        = errors.New("malformed signature")
	ErrTimestamp        = errors.New("timestamp outside tolerance")
	ErrNoActiveSecret   = errors.New("no active secret")
	ErrBadSignature     = errors.New("signature mismatch")
)

// ActiveSecret is one HMAC key that may sign deliveries to an endpoint now
// (a config secret, or a stored store.Secret that is active). Value is
// never logged or returned by the API.
type ActiveSecret struct {
	// ID names the secret in logs and log entries, e.g. "config:customers#1".
	ID    string
	Value string
	// ExpiresAt, when not zero, ends the secret's validity (the grace period
	// of a replaced registration).
	ExpiresAt time.Time
}

// signature is a parsed Robaws-Signature header.
type signature struct {
	t int64
	// tRaw is t exactly as sent: the MAC covers these bytes, so
	// "t=+17…" or "t=017…" cannot be MAC'd over a normalised number.
	tRaw string
	v1s  [][]byte
}

// parseSignature splits "t=<unix>,v1=<hex>[,v1=…]": elements on ",", each
// on its first "=", spaces trimmed; other prefixes are ignored.
func parseSignature(header string) (signature, error) {
	var sig signature
	if strings.TrimSpace(header) == "" {
		return sig, ErrMissingSignature
	}
	haveT := false
	for _, el := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(el, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "t":
			if haveT || !allDigits(v) {
				return sig, ErrMalformed
			}
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sig, ErrMalformed
			}
			sig.t, sig.tRaw, haveT = t, v, true
		case "v1":
			if mac, err := hex.DecodeString(v); err == nil && len(mac) == sha256.Size {
				sig.v1s = append(sig.v1s, mac)
			}
		}
	}
	if !haveT || len(sig.v1s) == 0 {
		return sig, ErrMalformed
	}
	return sig, nil
}

// allDigits reports whether s is a non-empty run of ASCII digits: no sign,
// no spaces, nothing strconv would otherwise accept.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Sign returns the Robaws-Signature header value for body at time t.
func Sign(secret string, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(computeMAC(secret, ts, body))
}

// computeMAC is HMAC-SHA256(secret, t + "." + body), t as sent.
func computeMAC(secret, t string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Verify checks a Robaws-Signature header against the raw body under any of
// secrets that is active at now, and returns the signed timestamp and the
// matching secret's ID. A negative tolerance skips the timestamp check
// (replay of a stored delivery). The error is one of ErrMissingSignature,
// ErrMalformed, ErrNoActiveSecret, ErrTimestamp or ErrBadSignature and never
// contains a MAC or secret; t is set whenever the header parsed.
func Verify(header string, body []byte, secrets []ActiveSecret, now time.Time, tolerance time.Duration) (t int64, secretID string, err error) {
	sig, err := parseSignature(header)
	if err != nil {
		return 0, "", err
	}
	active := 0
	for _, s := range secrets {
		if s.Value != "" && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)) {
			active++
		}
	}
	if active == 0 {
		return sig.t, "", ErrNoActiveSecret
	}
	if tolerance >= 0 {
		d := now.Sub(time.Unix(sig.t, 0))
		if d > tolerance || d < -tolerance {
			return sig.t, "", ErrTimestamp
		}
	}
	for _, s := range secrets {
		if s.Value == "" || (!s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)) {
			continue
		}
		want := computeMAC(s.Value, sig.tRaw, body)
		for _, got := range sig.v1s {
			if hmac.Equal(got, want) {
				return sig.t, s.ID, nil
			}
		}
	}
	return sig.t, "", ErrBadSignature
}

// summarize describes a rejected delivery's signature header for its log
// entry (SPEC §4): the timestamp when it is digits, its age at received,
// and how many v1 elements the header had. Never the MAC.
func summarize(header string, received time.Time) *store.SignatureSummary {
	s := &store.SignatureSummary{}
	for _, el := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(el, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "t":
			v = strings.TrimSpace(v)
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && allDigits(v) && s.Timestamp == nil {
				t := time.Unix(n, 0).UTC()
				age := int64(received.Sub(t) / time.Second)
				s.Timestamp, s.AgeSeconds = &t, &age
			}
		case "v1":
			s.V1Count++
		}
	}
	return s
}
