package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/robaws-edge/robaws-edge/service"
)

// TestVersion: `version` and `--version` print Options.Version (SPEC §6).
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out, errOut strings.Builder
		if err := Main(t.Context(), []string{arg}, nil, &out, &errOut, Options{Version: "1.2.3"}); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if got, want := out.String(), "robaws-edge 1.2.3\n"; got != want {
			t.Errorf("%s printed %q, want %q", arg, got, want)
		}
	}
}

// TestUsage: no command and an unknown one are usage errors; help is not.
func TestUsage(t *testing.T) {
	var out, errOut strings.Builder
	if err := Main(t.Context(), nil, nil, &out, &errOut, Options{}); !errors.Is(err, ErrUsage) {
		t.Errorf("no command: %v, want ErrUsage", err)
	}
	if err := Main(t.Context(), []string{"nope"}, nil, &out, &errOut, Options{}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown command: %v, want ErrUsage naming it", err)
	}
	if err := Main(t.Context(), []string{"help"}, nil, &out, &errOut, Options{}); err != nil {
		t.Errorf("help: %v, want nil", err)
	}
	if !strings.Contains(out.String(), "robaws-edge send-test") {
		t.Errorf("usage lacks send-test:\n%s", out.String())
	}
}

// TestHabits: -h and help CMD print that command's usage and flags and
// succeed; a bad flag or a stray argument is one usage error naming it,
// with that command's usage line only.
func TestHabits(t *testing.T) {
	run := func(args ...string) (string, string, error) {
		var out, errOut strings.Builder
		err := Main(t.Context(), args, nil, &out, &errOut, Options{})
		return out.String(), errOut.String(), err
	}
	for _, args := range [][]string{{"logs", "-h"}, {"help", "logs"}, {"logs", "--help"}} {
		out, errOut, err := run(args...)
		if err != nil || !strings.HasPrefix(out, "usage: robaws-edge logs ") || !strings.Contains(out, "-follow") || errOut != "" {
			t.Errorf("%v: err %v, stdout %q, stderr %q", args, err, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "--limit", "x"}, `invalid value "x" for flag -limit`},
		{[]string{"logs", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"backup"}, "backup needs one FILE"},
	} {
		out, errOut, err := run(tc.args...)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want a usage error with %q", tc.args, err, tc.want)
			continue
		}
		msg := err.Error()
		if strings.Count(msg, "usage: robaws-edge") != 1 || !strings.Contains(msg, "usage: robaws-edge "+tc.args[0]) || strings.Contains(msg, "send-test") {
			t.Errorf("%v: %q, want only this command's usage line", tc.args, msg)
		}
		if out != "" || errOut != "" {
			t.Errorf("%v printed %q / %q itself; main prints the error once", tc.args, out, errOut)
		}
	}
}

// TestInstallPrintUnit: `install --print-unit` prints the unit install would
// write (the .deb ships it), with User=/Group= from --run-as, and reads no
// config file; a bad user name is a usage error.
func TestInstallPrintUnit(t *testing.T) {
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		err := Main(t.Context(), args, nil, &out, &errOut, Options{})
		return out.String(), err
	}
	out, err := run("install", "--print-unit", "--executable", "/usr/bin/robaws-edge", "--run-as", "robaws-edge",
		"--config", "/nonexistent/robaws-edge/config.yaml")
	if err != nil {
		t.Fatalf("install --print-unit: %v", err)
	}
	want, err := service.SystemdUnit(service.Config{Executable: "/usr/bin/robaws-edge", UserName: "robaws-edge",
		ConfigPath: "/nonexistent/robaws-edge/config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if out != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out, want)
	}
	for _, line := range []string{"\nUser=robaws-edge\nGroup=robaws-edge\n",
		`ExecStart=/usr/bin/robaws-edge "run" "--config" "/nonexistent/robaws-edge/config.yaml"`} {
		if !strings.Contains(out, line) {
			t.Errorf("unit lacks %q:\n%s", line, out)
		}
	}
	if _, err := run("install", "--print-unit", "--executable", "/usr/bin/robaws-edge", "--run-as", "robaws edge"); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `invalid user name "robaws edge"`) {
		t.Errorf("bad --run-as: %v, want a usage error naming it", err)
	}
}

// TestHelp: help names what was asked for, works for every command
// (groups list their subcommands, `help CMD SUB` gives SUB's flags), exits
// 0, and says what the command does rather than pointing at a README the
// machine may not have.
func TestHelp(t *testing.T) {
	run := func(args ...string) (string, string, error) {
		var out, errOut strings.Builder
		err := Main(t.Context(), args, nil, &out, &errOut, Options{})
		return out.String(), errOut.String(), err
	}
	if _, _, err := run("help", "nosuch"); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `unknown command "nosuch"`) {
		t.Errorf("help nosuch: %v, want unknown command \"nosuch\"", err)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}} {
			out, _, err := run(args...)
			if err != nil {
				t.Errorf("%v: %v, want exit 0", args, err)
				continue
			}
			if !strings.HasPrefix(out, "usage: robaws-edge "+c.name) || strings.Contains(out, "README") || describe(c.usage) == "" ||
				!strings.Contains(out, describe(c.usage)) {
				t.Errorf("%v printed:\n%s\nwant its usage and what it does", args, out)
			}
			if subs := subcommands[c.name]; subs != nil && !strings.Contains(out, strings.Join(subs, ", ")) {
				t.Errorf("%v printed:\n%s\nwant its subcommands", args, out)
			}
		}
	}
	for _, args := range [][]string{{"help", "webhooks", "add"}, {"help", "forward", "resend"}, {"help", "config", "init"}, {"help", "sync", "customers"}, {"help", "customers", "show"}} {
		out, _, err := run(args...)
		if err != nil || !strings.Contains(out, "flags:") || !strings.Contains(out, "-config") {
			t.Errorf("%v: %v\n%s\nwant the subcommand's flags", args, err, out)
		}
	}
	if out, _, err := run("help", "help"); err != nil || !strings.Contains(out, "robaws-edge send-test") {
		t.Errorf("help help: %v\n%s", err, out)
	}
}
