package app_test

import (
	"testing"

	"github.com/robaws-edge/robaws-edge/app"
)

// TestSignatureAge: a signature's age reads as people count, in the two
// largest units, never as "96504193 s old".
func TestSignatureAge(t *testing.T) {
	for _, tt := range []struct {
		age  int64
		want string
	}{
		{0, "0 s before it arrived"},
		{4, "4 s before it arrived"},
		{250, "4 min 10 s before it arrived"},
		{3600, "1 h before it arrived"},
		{7500, "2 h 5 min before it arrived"},
		{86400 + 3*3600, "1 day 3 h before it arrived"},
		{96504193, "1116 days before it arrived"},
		{-7500, "2 h 5 min after it arrived (the signer's clock is ahead)"},
	} {
		if got := app.SignatureAge(tt.age); got != tt.want {
			t.Errorf("SignatureAge(%d) = %q, want %q", tt.age, got, tt.want)
		}
	}
}
