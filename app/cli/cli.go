// Package cli is robaws-edge's command-line interface (SPEC §6): Main
// dispatches a table of commands, one flag set each. Data commands talk to
// the running daemon through app.Client and never open the database file;
// `check` and `restore` work on the file of a stopped daemon through store;
// the service commands go through service. The daemon itself (`run`) is
// wired in main and reaches the CLI as the function Options.Run.
package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/robaws-edge/robaws-edge/configs"
)

// ErrUsage marks bad usage or config: main exits 2 for an error wrapping it.
var ErrUsage = errors.New("usage")

// usageError wraps a message with ErrUsage.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUsage)
}

// configError is a problem with the config file's content (an unknown
// key, a bad value, an unset ${VAR}). It exits 2 like bad usage
// (errors.Is(err, ErrUsage)), but Main prints it without the command's
// usage line: the command line was fine (SPEC §6).
type configError struct{ err error }

// ConfigError marks err, a problem with the config file's content, as
// such: exit 2, printed without a usage line. main uses it for what `run`
// finds wrong in the file after loading it.
func ConfigError(err error) error { return &configError{err} }

func (e *configError) Error() string   { return e.err.Error() }
func (e *configError) Unwrap() []error { return []error{e.err, ErrUsage} }

// Options is what main gives the CLI.
type Options struct {
	// Version is printed by `version`.
	Version string
	// Run runs the daemon with cfg (read from path, "" for the built-in
	// defaults) until it is stopped, logging to stderr or where cfg says.
	// Required for `run`.
	Run func(ctx context.Context, cfg configs.Config, path string, stderr io.Writer) error
}

// command is one subcommand of the CLI.
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries the streams and options of one invocation.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           Options
	// usage is the running command's usage line, for -h.
	usage string
}

func commands() []command {
	return []command{
		{"run", "run [--config F]                 run in the foreground (what the service runs)", cmdRun},
		{"install", "install [--config F]             install the service (runs `run --config F`)", cmdService("install")},
		{"uninstall", "uninstall                        stop and remove the service", cmdService("uninstall")},
		{"start", "start                            start the service", cmdService("start")},
		{"stop", "stop                             stop the service", cmdService("stop")},
		{"restart", "restart                          restart the service", cmdService("restart")},
		{"status", "status [--json]                  service state, the daemon's health and every problem with its fix; exit 1 on a problem", cmdStatus},
		{"version", "version                          print the version", cmdVersion},
		{"config", "config init [--token]|check [--config F]  write the template (--token: with a random admin.token) / validate a file", cmdConfig},
		{"check", "check [--config F]               bbolt's full check of the database file (daemon stopped)", cmdCheck},
		{"restore", "restore FILE | --empty [--config F]  put a backup (or, with --empty, a new empty database) in place (daemon stopped; the current file is kept aside)", cmdRestore},
		{"webhooks", "webhooks list [--json] | add --endpoint E --secret S|- [--webhook-id ID] [--url U] | register --endpoint E [--url U] [--force] | delete ID [--remote]  the secrets that verify deliveries: list them, add one Robaws showed you, register with Robaws, deactivate one", cmdWebhooks},
		{"sync", "sync customers [--since T]      sync the customer cache from Robaws (progress bar on a terminal)", cmdSync},
		{"logs", "logs [--event E] [--status S] [--client ID] [--endpoint E] [--since T] [--limit N] [--json] [--follow] | logs show ID  the delivery log, newest first (--follow: then each new entry as it comes); show: one entry with its payload", cmdLogs},
		{"replay", "replay ID… | replay --status failed|rejected  process kept deliveries again (after adding the right secret or fixing a failure); exit 1 when one ends failed or rejected", cmdReplay},
		{"customers", "customers [--q TEXT] [--role R] [--pricing-code C] [--active B] [--test] [--limit N] [--json] | customers show|history ID  the customer cache, sorted by name (--test: with send-test's TEST- customers); show: one record; history: its changes", cmdCustomers},
		{"backup", "backup FILE|- [--force]          a consistent copy of the database (- = stdout)", cmdBackup},
		{"forward", "forward list | attempts NAME | dead NAME | pause NAME | resume NAME | resend NAME [--dead] [--since T] [--event E] [--client ID] [ID…] | test NAME  the destinations that receive what arrives: their state, attempts and dead items; pause, resume, resend, a test item", cmdForward},
		{"send-test", "send-test [--endpoint E] [--event client.updated] [--client-id TEST-1] [--count N] [--concurrency C] [--public]  sign test deliveries (client ids TEST-…) and post them to the local receiver, or with --public through the tunnel", cmdSendTest},
	}
}

// subcommands lists the subcommands of the commands that are groups of
// them: `help CMD` lists them, `help CMD SUB` shows SUB's flags.
var subcommands = map[string][]string{
	"config":   {"init", "check"},
	"webhooks": {"list", "add", "register", "delete"},
	"sync":     {"customers"},
	"forward":  {"list", "attempts", "dead", "pause", "resume", "resend", "test"},
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// Main runs the command in args (without the program name), reading stdin
// and writing to stdout and stderr. It returns the command's error, unprinted
// (main prints it once); an error wrapping ErrUsage means bad usage or
// config (exit 2), flag.ErrHelp a request for help.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts Options) error {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, opts: opts}
	if len(args) == 0 {
		printUsage(stderr)
		return usageError("no command given")
	}
	name, rest := args[0], args[1:]
	switch {
	case isHelp(name):
		printUsage(stdout)
		return nil
	case name == "help":
		if len(rest) == 0 {
			printUsage(stdout)
			return nil
		}
		if rest[0] == "help" {
			printUsage(stdout)
			return nil
		}
		// help CMD is CMD -h: its usage line and its flags, exit 0; help
		// CMD SUB is CMD SUB -h.
		name, rest = rest[0], append(slices.Clone(rest[1:]), "-h")
	case name == "--version" || name == "-version":
		name = "version" // SPEC §6: version | --version
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		env.usage = c.usage
		if subs := subcommands[name]; subs != nil && len(rest) > 0 && isHelp(rest[0]) {
			// A group's own help: what it does and its subcommands.
			fmt.Fprintf(stdout, "usage: robaws-edge %s\n\n%s\n\nsubcommands: %s\n(robaws-edge help %s SUBCOMMAND lists its flags)\n",
				syntax(c.usage), describe(c.usage), strings.Join(subs, ", "), name)
			return nil
		}
		err := c.run(ctx, env, rest)
		var ce *configError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return nil // the usage went to stdout
		case errors.As(err, &ce):
			return err // the file's fault, not the command line's: no usage line
		case errors.Is(err, ErrUsage):
			// Printed once by main, with this command's usage only.
			msg := strings.TrimSuffix(err.Error(), ": "+ErrUsage.Error())
			return usageError("%s\nusage: robaws-edge %s\n(robaws-edge help %s lists its flags)", msg, syntax(c.usage), c.name)
		}
		return err
	}
	return usageError("unknown command %q; robaws-edge help lists the commands", name)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: robaws-edge <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintln(w, "  robaws-edge "+c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "robaws-edge help COMMAND shows what a command does and its flags.")
	fmt.Fprintln(w, "Data commands take --config F to find the daemon (admin.listen, admin.token).")
}

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

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "robaws-edge", env.opts.Version)
	return nil
}

// cmdRun is `run`: load the config (a bad one is a usage error), then hand
// over to Options.Run, which owns the daemon.
func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "run")
	configPath := configFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, used, err := configs.Load(*configPath)
	if err != nil {
		return ConfigError(err)
	}
	if env.opts.Run == nil {
		return errors.New("run: this build has no daemon")
	}
	return env.opts.Run(ctx, cfg, used, env.stderr)
}

func cmdConfig(_ context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError("config needs init or check")
	}
	sub := args[0]
	fs := newFlags(env, "config "+sub)
	configPath := fs.String("config", configs.DefaultConfigPath(), "config file")
	var withToken *bool
	if sub == "init" {
		withToken = fs.Bool("token", false, "set admin.token to a new random token (26 characters) in the file")
	}
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch sub {
	case "init":
		template := configs.Example()
		if *withToken {
			// rand.Text: 26 base32 characters, 130 random bits. It goes
			// into the file only, never to the terminal.
			with := strings.Replace(template, "\n  token: \"\"\n", "\n  token: \""+rand.Text()+"\"\n", 1)
			if with == template {
				return errors.New("config init --token: the template has no empty admin.token to fill")
			}
			template = with
		}
		if err := os.MkdirAll(filepath.Dir(*configPath), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(*configPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; not overwriting it", *configPath)
		} else if err != nil {
			return err
		}
		if _, err := io.WriteString(f, template); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, "wrote", *configPath)
		if *withToken {
			fmt.Fprintln(env.stdout, "admin.token is a new random token, in that file only: the console asks for it, the CLI reads it from the file")
		}
		return nil
	case "check":
		if _, err := configs.ReadFile(*configPath); err != nil {
			return ConfigError(err)
		}
		fmt.Fprintln(env.stdout, *configPath+": ok")
		return nil
	}
	return usageError("unknown config subcommand %q (want init or check)", sub)
}
