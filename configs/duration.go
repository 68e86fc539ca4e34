package configs

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that YAML writes in Go syntax (30s, 5m, 24h,
// 1h30m) or with leading days: 90d, 1d12h (1d = 24h). A bare 0 is 0s.
type Duration time.Duration

// durationForms is what a message about a bad duration says is accepted.
const durationForms = "a duration such as 30s, 5m, 24h or 90d (1d = 24h)"

// errDuration is ParseDuration's error; messages add the key and value.
var errDuration = errors.New("must be " + durationForms)

// ParseDuration parses s as Go's time.ParseDuration does, and also accepts
// whole days before the rest: "90d", "1d12h", "-2d". It returns an error
// saying which forms are accepted.
func ParseDuration(s string) (Duration, error) {
	body, sign := s, time.Duration(1)
	if rest, ok := strings.CutPrefix(body, "-"); ok {
		body, sign = rest, -1
	} else if rest, ok := strings.CutPrefix(body, "+"); ok {
		body = rest
	}
	days, rest, ok := strings.Cut(body, "d")
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errDuration
		}
		return Duration(d), nil
	}
	n, err := strconv.ParseUint(days, 10, 64)
	const maxDays = uint64(1<<63-1) / uint64(24*time.Hour)
	if err != nil || n > maxDays {
		return 0, errDuration
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || strings.HasPrefix(rest, "+") || d+r < d {
			return 0, errDuration
		}
		d += r
	}
	return Duration(sign * d), nil
}

// UnmarshalYAML reads a duration (see ParseDuration). Parse checks every
// duration key before decoding and names it; this is the method yaml calls.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
