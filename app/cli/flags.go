package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/configs"
)

// newFlags returns a flag set that reports errors to stderr and names the
// bad flag.
func newFlags(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("robaws-edge "+name, flag.ContinueOnError)
	// The flag package would print each error with the whole flag list;
	// Main prints the error once with the usage line instead, and -h the
	// flags, to stdout.
	fs.SetOutput(&helpOutput{stdout: env.stdout})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: robaws-edge %s\n\n%s\n\nflags:\n", syntax(env.usage), describe(env.usage))
		fs.PrintDefaults()
	}
	return fs
}

// syntax is the syntax part of a usage line (before the description, which
// follows two or more spaces).
func syntax(usage string) string { return strings.TrimSpace(strings.SplitN(usage, "  ", 2)[0]) }

// describe is the description part of a usage line (every command has
// one: the help on this machine is all the admin has, not the README).
func describe(usage string) string {
	if parts := strings.SplitN(usage, "  ", 2); len(parts) == 2 {
		return strings.TrimSpace(parts[1])
	}
	return ""
}

// helpOutput holds what the flag package prints: the usage and flags go to
// stdout for -h (parseFlags copies them), and are dropped on an error.
type helpOutput struct {
	bytes.Buffer
	stdout io.Writer
}

// parseFlags parses and turns flag errors into usage errors. Flags may come
// before or after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if ho, ok := fs.Output().(*helpOutput); ok {
				if errors.Is(err, flag.ErrHelp) {
					io.Copy(ho.stdout, &ho.Buffer)
				}
				ho.Reset()
			}
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// noArgs parses flags and rejects positional arguments.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected argument %q", pos[0])
	}
	return nil
}

// oneArg parses flags and wants exactly one positional argument; what it
// says otherwise is missing.
func oneArg(fs *flag.FlagSet, args []string, missing string, a ...any) (string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageError(missing, a...)
	}
	return pos[0], nil
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default: "+configs.DefaultConfigPath()+" if it exists, else built-in defaults)")
}

// jsonFlag adds --json to fs.
func jsonFlag(fs *flag.FlagSet) *bool { return fs.Bool("json", false, "print JSON") }

// limitFlag adds --limit to fs.
func limitFlag(fs *flag.FlagSet, def int) *int {
	return fs.Int("limit", def, "how many items to show")
}

// checkLimit rejects a --limit below 1.
func checkLimit(n int) error {
	if n < 1 {
		return usageError("invalid value %d for flag -limit: must be at least 1", n)
	}
	return nil
}

func parseLogID(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usageError("invalid log entry ID %q: want a number", s)
	}
	return n, nil
}

// sinceFlag parses --since: RFC 3339, or a duration meaning that long ago.
func sinceFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usageError("invalid value %q for flag -since: want RFC 3339 (2026-11-30T08:00:00Z) or a duration (24h)", s)
}
