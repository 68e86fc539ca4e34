package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestReadOutcome: send-test reads the receiver's answer as intake.Outcome;
// an answer it cannot read says so instead of passing for an empty one.
func TestReadOutcome(t *testing.T) {
	for _, tt := range []struct {
		name, body     string
		code           int
		status, errMsg string
		logID          uint64
	}{
		{"processed", `{"status":"processed","log_id":7}`, 200, "processed", "", 7},
		{"refused", `{"error":"signature mismatch"}`, 401, "http 401", "signature mismatch", 0},
		{"not JSON", "<html>Bad Gateway</html>\n", 502, "http 502", "answer is not JSON: <html>Bad Gateway</html>", 0},
		{"empty", "", 405, "http 405", "empty answer", 0},
	} {
		resp := &http.Response{StatusCode: tt.code, Body: io.NopCloser(strings.NewReader(tt.body))}
		status, logID, errMsg := readOutcome(resp)
		if status != tt.status || logID != tt.logID || errMsg != tt.errMsg {
			t.Errorf("%s: got %q, %d, %q; want %q, %d, %q", tt.name, status, logID, errMsg, tt.status, tt.logID, tt.errMsg)
		}
	}
}
