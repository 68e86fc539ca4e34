package intake_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/intake"
)

// TestSignatureVectors checks Sign and Verify against the shared vectors.
func TestSignatureVectors(t *testing.T) {
	for i, v := range readVectors(t) {
		t.Run(fmt.Sprint("vector", i), func(t *testing.T) {
			if got := intake.Sign(v.Secret, v.T, []byte(v.Body)); got != v.Header {
				t.Fatalf("Sign = %q, want %q", got, v.Header)
			}
			secrets := []intake.ActiveSecret{{ID: "s1", Value: v.Secret}}
			ts, id, err := intake.Verify(v.Header, []byte(v.Body), secrets, time.Unix(v.T, 0), 5*time.Minute)
			if err != nil || ts != v.T || id != "s1" {
				t.Fatalf("Verify = %d, %q, %v; want %d, s1, nil", ts, id, err, v.T)
			}
		})
	}
}

// TestVerify covers the header grammar and every reject reason of SPEC
// §1.3: known vectors, bad prefixes, wrong and empty secrets, empty body.
func TestVerify(t *testing.T) {
	v := readVectors(t)[1]
	body := []byte(v.Body)
	now := time.Unix(v.T, 0)
	flipped := []byte(v.Body)
	flipped[10] ^= 0x01
	sig := func(secret string, ts int64) string { return intake.Sign(secret, ts, body) }
	wrongMAC := strings.Repeat("ab", 32)
	two := []intake.ActiveSecret{{ID: "old", Value: "old-secret"}, {ID: "cur", Value: testSecret}}
	tests := []struct {
		name    string
		body    []byte
		header  string
		secrets []intake.ActiveSecret
		wantErr error
		wantID  string
	}{
		{"missing signature", body, "", two, intake.ErrMissingSignature, ""},
		{"blank signature", body, "   ", two, intake.ErrMissingSignature, ""},
		{"no t", body, "v1=" + v.V1, two, intake.ErrMalformed, ""},
		{"t not an integer", body, "t=12a,v1=" + v.V1, two, intake.ErrMalformed, ""},
		// t is digits only and MAC'd as sent: a sign or a leading zero is
		// not the same t, even when the MAC is computed over the number.
		{"t with a plus sign", body, fmt.Sprintf("t=+%d,v1=%s", v.T, v.V1), two, intake.ErrMalformed, ""},
		{"t with a minus sign", body, fmt.Sprintf("t=-%d,v1=%s", v.T, v.V1), two, intake.ErrMalformed, ""},
		{"t with a leading zero", body, fmt.Sprintf("t=0%d,v1=%s", v.T, v.V1), two, intake.ErrBadSignature, ""},
		{"t with an inner space", body, fmt.Sprintf("t=%d %d,v1=%s", v.T/10, v.T%10, v.V1), two, intake.ErrMalformed, ""},
		{"t empty", body, "t=,v1=" + v.V1, two, intake.ErrMalformed, ""},
		{"t twice", body, fmt.Sprintf("t=%d,t=%d,v1=%s", v.T, v.T, v.V1), two, intake.ErrMalformed, ""},
		{"no v1", body, fmt.Sprintf("t=%d,v0=%s", v.T, v.V1), two, intake.ErrMalformed, ""},
		{"bad prefix only", body, fmt.Sprintf("t=%d,sha256=%s", v.T, v.V1), two, intake.ErrMalformed, ""},
		{"v1 not hex", body, fmt.Sprintf("t=%d,v1=zz", v.T), two, intake.ErrMalformed, ""},
		{"flipped body byte", flipped, v.Header, two, intake.ErrBadSignature, ""},
		{"wrong secret", body, sig("not-the-secret", v.T), two, intake.ErrBadSignature, ""},
		{"past beyond tolerance", body, sig(testSecret, v.T-301), two, intake.ErrTimestamp, ""},
		{"future beyond tolerance", body, sig(testSecret, v.T+301), two, intake.ErrTimestamp, ""},
		{"no secrets", body, v.Header, nil, intake.ErrNoActiveSecret, ""},
		{"empty secret only", body, sig("", v.T), []intake.ActiveSecret{{ID: "e", Value: ""}}, intake.ErrNoActiveSecret, ""},
		{"empty secret skipped", body, sig("", v.T), []intake.ActiveSecret{{ID: "e", Value: ""}, {ID: "cur", Value: testSecret}}, intake.ErrBadSignature, ""},
		{"expired secret", body, v.Header, []intake.ActiveSecret{{ID: "x", Value: testSecret, ExpiresAt: now}}, intake.ErrNoActiveSecret, ""},
		{"secret expiring later", body, v.Header, []intake.ActiveSecret{{ID: "x", Value: testSecret, ExpiresAt: now.Add(time.Second)}}, nil, "x"},
		{"empty body signed", []byte{}, intake.Sign(testSecret, v.T, nil), two, nil, "cur"},
		{"past within tolerance", body, sig(testSecret, v.T-300), two, nil, "cur"},
		{"future within tolerance", body, sig(testSecret, v.T+300), two, nil, "cur"},
		{"first of two secrets", body, sig("old-secret", v.T), two, nil, "old"},
		{"spaces and several v1", body, fmt.Sprintf(" t = %d , v1=%s ,  v1 = %s , v0=zz", v.T, wrongMAC, v.V1), two, nil, "cur"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, id, err := intake.Verify(tt.header, tt.body, tt.secrets, now, 5*time.Minute)
			if err != tt.wantErr || id != tt.wantID {
				t.Fatalf("got %q, %v; want %q, %v", id, err, tt.wantID, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), v.V1) || strings.Contains(err.Error(), testSecret)) {
				t.Fatalf("error %q discloses a MAC or secret", err)
			}
		})
	}
}

// TestVerifyNoTolerance: a negative tolerance (replay) accepts a timestamp
// of any age, but still checks the MAC.
func TestVerifyNoTolerance(t *testing.T) {
	v := readVectors(t)[0]
	secrets := []intake.ActiveSecret{{ID: "s", Value: v.Secret}}
	later := time.Unix(v.T, 0).Add(1000 * time.Hour)
	if _, _, err := intake.Verify(v.Header, []byte(v.Body), secrets, later, -1); err != nil {
		t.Fatalf("Verify without tolerance = %v, want nil", err)
	}
	if _, _, err := intake.Verify(v.Header, []byte(v.Body+" "), secrets, later, -1); !errors.Is(err, intake.ErrBadSignature) {
		t.Fatalf("Verify of a changed body = %v, want %v", err, intake.ErrBadSignature)
	}
}

// TestSignatureOverTimestampAsSent: the MAC covers t's bytes as sent, so a
// sender that pads t with a zero and MACs those bytes verifies.
func TestSignatureOverTimestampAsSent(t *testing.T) {
	v := readVectors(t)[1]
	ts := fmt.Sprintf("0%d", v.T)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(ts + "." + v.Body))
	header := "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	got, _, err := intake.Verify(header, []byte(v.Body), []intake.ActiveSecret{{Value: testSecret}}, time.Unix(v.T, 0), 5*time.Minute)
	if err != nil || got != v.T {
		t.Fatalf("Verify = %d, %v; want %d, nil", got, err, v.T)
	}
}
