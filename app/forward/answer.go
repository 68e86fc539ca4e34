package forward

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The three kinds of answer a target gives (SPEC §8).
type outcome int

const (
	// delivered: 2xx, or JetStream stored the message.
	delivered outcome = iota
	// down: no answer, a timeout, 408, 429, 5xx. Retried forever.
	down
	// misconfigured: 3xx (redirects are not followed), 401, 403, 404, 405,
	// 410. Retried forever too: the admin fixes the target or the config.
	misconfigured
	// refused: any other 4xx says this item is unacceptable; after
	// Config.Refusals of them in a row the item is set aside as dead.
	refused
)

// answer is what one attempt got.
type answer struct {
	outcome outcome
	// code is the HTTP status; 0 when there was none (a transport error,
	// NATS).
	code int
	// err describes a failure for people (never a secret); "" on success.
	err string
	// excerpt is the first 2 KiB of the response body (HTTP), or what
	// JetStream acknowledged.
	excerpt string
	// retryAfter is the target's Retry-After, 0 when none.
	retryAfter time.Duration
}

// classify sorts an HTTP status into the three kinds.
func classify(code int) outcome {
	switch {
	case code >= 200 && code < 300:
		return delivered
	case code >= 300 && code < 400:
		return misconfigured
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound,
		code == http.StatusMethodNotAllowed, code == http.StatusGone:
		return misconfigured
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return down
	case code >= 400 && code < 500:
		return refused
	}
	return down // 1xx (never final here), 5xx and anything unknown
}

// statusError is the err of an answer that is not 2xx: "422 Unprocessable
// Entity", with where a redirect pointed.
func statusError(code int, location string) string {
	s := strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	if code >= 300 && code < 400 {
		s += " (redirects are not followed"
		if location != "" {
			s += "; it points at " + redactURL(location)
		}
		s += ")"
	}
	return s
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// DefaultSchedule is the wait before each new attempt of an item that
// failed (SPEC §8): 5 s, 30 s, 2 m, 10 m, 30 m, then every hour.
var DefaultSchedule = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}

// wait is the pause after the n-th failed attempt in a row (n >= 1) under
// schedule, or the target's Retry-After when that is longer.
func wait(schedule []time.Duration, n int, ra time.Duration) time.Duration {
	d := schedule[min(n, len(schedule))-1]
	return max(d, ra)
}
