package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/robaws-edge/robaws-edge/service"
	"github.com/robaws-edge/robaws-edge/store"
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
	if err := Main(t.Context(), nil, nil, &out, &errOut, Options{}); !errors.Is(err, errUsage) {
		t.Errorf("no command: %v, want errUsage", err)
	}
	if err := Main(t.Context(), []string{"nope"}, nil, &out, &errOut, Options{}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown command: %v, want errUsage naming it", err)
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
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
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
	if _, err := run("install", "--print-unit", "--executable", "/usr/bin/robaws-edge", "--run-as", "robaws edge"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `invalid user name "robaws edge"`) {
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
	if _, _, err := run("help", "nosuch"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `unknown command "nosuch"`) {
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
			if subs := c.subs.names(); len(subs) > 0 && !strings.Contains(out, strings.Join(subs, ", ")) {
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

// TestFollowColumns: `logs --follow` prints rows one at a time; every
// column stays at least two spaces from the next, however long a cell
// (a local time with its offset, a long client id), and a short row lines
// up under the header.
func TestFollowColumns(t *testing.T) {
	cols := newColumns(logColumns, followWidths)
	rows := [][]string{
		logColumns,
		{"1", "2026-12-05 22:47:17 +00:00", "customers", "client.updated", "TEST-1", "processed", "1", "-"},
		{"123456789", "2026-12-05 22:47:17 +01:00", "a-very-long-endpoint", "client.created", "client-with-a-long-id-42", "rejected", "12", "signature\tmismatch\nx"},
		{"2", "2026-12-05 22:47:18 +00:00", "customers", "client.updated", "C-1", "processed", "1", "-"},
	}
	var lines []string
	for _, r := range rows {
		lines = append(lines, cols.line(r))
	}
	apart := regexp.MustCompile(`\s{2,}`)
	for i, l := range lines {
		want := strings.Join(rows[i], "|")
		want = strings.NewReplacer("\t", " ", "\n", " ").Replace(want)
		if got := strings.Join(apart.Split(strings.TrimSpace(l), -1), "|"); got != want || strings.Count(l, "\n") != 1 {
			t.Errorf("line %q splits into %q, want %q: columns two spaces apart, one line", l, got, want)
		}
	}
	if i, j := strings.Index(lines[0], "STATUS"), strings.Index(lines[1], "processed"); i != j {
		t.Errorf("STATUS at %d, processed at %d:\n%s%s", i, j, lines[0], lines[1])
	}
}

// TestStopAdvice: check and restore say `robaws-edge stop` only where a
// service runs the daemon; otherwise how to stop the process.
func TestStopAdvice(t *testing.T) {
	for _, tt := range []struct {
		state, want, not string
	}{
		{service.StatusRunning, "robaws-edge stop", "Ctrl-C"},
		{service.StatusNotInstalled, "Ctrl-C where `robaws-edge run` runs", "robaws-edge stop"},
		{service.StatusStopped, "Ctrl-C", "robaws-edge stop"},
		{service.StatusUnknown, "robaws-edge stop for the service, or Ctrl-C", ""},
	} {
		got := stopAdvice(tt.state)
		if !strings.Contains(got, tt.want) || (tt.not != "" && strings.Contains(got, tt.not)) {
			t.Errorf("stopAdvice(%q) = %q, want %q and not %q", tt.state, got, tt.want, tt.not)
		}
	}
}

// TestCheckInUse: check and restore on a database the daemon holds give
// the stop advice that is true on this machine (service.Status).
func TestCheckInUse(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "robaws-edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("data_dir: "+strconv.Quote(dir)+"\ntunnel: {provider: none}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, _, err := db.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	snap.Close()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.Rename(snap.Name(), backup); err != nil {
		t.Fatal(err)
	}
	want := stopAdvice(serviceState())
	for _, args := range [][]string{{"check", "--config", config}, {"restore", backup, "--config", config}} {
		var out, errOut strings.Builder
		err := Main(t.Context(), args, nil, &out, &errOut, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
		if serviceState() != service.StatusRunning && strings.Contains(fmt.Sprint(err), "robaws-edge stop") {
			t.Errorf("%v: %v advises robaws-edge stop, but no service runs here", args, err)
		}
	}
}

// TestRunConfig: main starts `run` itself with what RunConfig reads: -h
// prints run's usage and asks for nothing to start (exit 0), as `help run`
// does through Main; a bad flag is one usage error with run's usage line
// (exit 2); a good file comes back with its path.
func TestRunConfig(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	var out strings.Builder
	if _, _, err := RunConfig([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) || Exit(err, io.Discard) != 0 ||
		!strings.HasPrefix(out.String(), "usage: robaws-edge run [--config F]") || !strings.Contains(out.String(), "-config") {
		t.Errorf("run -h: %v, printed %q; want flag.ErrHelp (exit 0) and run's usage with its flags", err, out.String())
	}
	var help strings.Builder
	if err := Main(t.Context(), []string{"help", "run"}, nil, &help, io.Discard, Options{}); err != nil || help.String() != out.String() {
		t.Errorf("help run: %v, printed %q; want %q", err, help.String(), out.String())
	}
	_, _, err := RunConfig([]string{"--nope"}, io.Discard)
	if Exit(err, io.Discard) != 2 || !strings.Contains(err.Error(), "-nope") || strings.Count(err.Error(), "usage: robaws-edge run [--config F]") != 1 {
		t.Errorf("run --nope: %v, want exit 2 naming the flag, with run's usage line once", err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("admin: {listen: \"127.0.0.1:1\"}\ntunnel: {provider: none}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, used, err := RunConfig([]string{"--config", path}, io.Discard)
	if err != nil || used != path || cfg.Admin.Listen != "127.0.0.1:1" {
		t.Errorf("run --config %s: %v, path %q, admin.listen %q", path, err, used, cfg.Admin.Listen)
	}
}

// TestExit: the error printed once, prefixed with the program's name and
// without the usage marker; 0, 1, or 2 for usage and config errors.
func TestExit(t *testing.T) {
	for _, tt := range []struct {
		err        error
		code       int
		wantStderr string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{errors.New("boom"), 1, "robaws-edge: boom\n"},
		{usageError("bad flag"), 2, "robaws-edge: bad flag\n"},
		{ConfigError(errors.New("log.level: bad")), 2, "robaws-edge: log.level: bad\n"},
		{errors.New("robaws-edge is not running"), 1, "robaws-edge is not running\n"},
	} {
		var stderr strings.Builder
		if code := Exit(tt.err, &stderr); code != tt.code || stderr.String() != tt.wantStderr {
			t.Errorf("Exit(%v) = %d, printed %q; want %d, %q", tt.err, code, stderr.String(), tt.code, tt.wantStderr)
		}
	}
}
