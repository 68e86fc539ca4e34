// Package cli is robaws-edge's command-line interface (SPEC §6): Main
// dispatches a table of commands, one flag set each, one file per command
// group, one function per subcommand. Data commands talk to the running
// daemon through app.Client and never open the database file; `check` and
// `restore` work on the file of a stopped daemon through store; the service
// commands go through service.
//
// The daemon itself is wired in main, which starts `run` on its own: cli
// reads run's command line (RunConfig) and never calls back into main.
// Exit turns any command's error into the one line printed and the exit
// code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// errUsage marks bad usage or config: Exit returns 2 for an error wrapping
// it.
var errUsage = errors.New("usage")

// usageError wraps a message with errUsage.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errUsage)
}

// configError is a problem with the config file's content (an unknown
// key, a bad value, an unset ${VAR}). It exits 2 like bad usage
// (errors.Is(err, errUsage)), but Main prints it without the command's
// usage line: the command line was fine (SPEC §6).
type configError struct{ err error }

// ConfigError marks err, a problem with the config file's content, as
// such: exit 2, printed without a usage line. main uses it for what `run`
// finds wrong in the file after loading it.
func ConfigError(err error) error { return &configError{err} }

func (e *configError) Error() string   { return e.err.Error() }
func (e *configError) Unwrap() []error { return []error{e.err, errUsage} }

// Exit prints err once to stderr, as the process's last word, and returns
// the exit code (SPEC §6): 0 for no error (or help, already printed), 2 for
// bad usage or config, 1 for any other failure.
func Exit(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
	if !strings.HasPrefix(msg, "robaws-edge ") {
		msg = "robaws-edge: " + msg
	}
	fmt.Fprintln(stderr, msg)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// Options is what main gives the CLI.
type Options struct {
	// Version is printed by `version`.
	Version string
}

// command is one command of the CLI: a plain one has run, a group of
// subcommands has subs (and run only when it checks args itself first).
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, env *cliEnv, args []string) error
	subs  group
}

// group is the subcommands of a command, in the order help lists them.
type group []subcommand

// subcommand is one subcommand of a group. run gets a flag set named
// "robaws-edge CMD SUB" and the arguments after SUB.
type subcommand struct {
	name string
	run  func(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error
}

// names lists the group's subcommands.
func (g group) names() []string {
	names := make([]string, len(g))
	for i, s := range g {
		names[i] = s.name
	}
	return names
}

// run runs the subcommand args[0] names, or says which ones there are.
func (g group) run(ctx context.Context, env *cliEnv, cmd string, args []string) error {
	want := strings.Join(g.names(), ", ")
	if i := strings.LastIndex(want, ", "); i >= 0 {
		want = want[:i] + " or " + want[i+2:]
	}
	if len(args) == 0 {
		return usageError("%s needs %s", cmd, want)
	}
	for _, s := range g {
		if s.name == args[0] {
			return s.run(ctx, env, newFlags(env, cmd+" "+s.name), args[1:])
		}
	}
	return usageError("unknown %s subcommand %q (want %s)", cmd, args[0], want)
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
		{name: "run", usage: runUsage, run: cmdRun},
		{name: "install", usage: "install [--config F]             install the service (runs `run --config F`)", run: cmdService("install")},
		{name: "uninstall", usage: "uninstall                        stop and remove the service", run: cmdService("uninstall")},
		{name: "start", usage: "start                            start the service", run: cmdService("start")},
		{name: "stop", usage: "stop                             stop the service", run: cmdService("stop")},
		{name: "restart", usage: "restart                          restart the service", run: cmdService("restart")},
		{name: "status", usage: "status [--json]                  service state, the daemon's health and every problem with its fix; exit 1 on a problem", run: cmdStatus},
		{name: "version", usage: "version                          print the version", run: cmdVersion},
		{name: "config", usage: "config init [--token]|check [--config F]  write the template (--token: with a random admin.token) / validate a file", subs: configSubcommands},
		{name: "check", usage: "check [--config F]               bbolt's full check of the database file (daemon stopped)", run: cmdCheck},
		{name: "restore", usage: "restore FILE | --empty [--config F]  put a backup (or, with --empty, a new empty database) in place (daemon stopped; the current file is kept aside)", run: cmdRestore},
		{name: "webhooks", usage: "webhooks list [--json] | add --endpoint E --secret S|- [--webhook-id ID] [--url U] | register --endpoint E [--url U] [--force] | delete ID [--remote]  the secrets that verify deliveries: list them, add one Robaws showed you, register with Robaws, deactivate one", subs: webhooksSubcommands},
		{name: "sync", usage: "sync customers [--since T]      sync the customer cache from Robaws (progress bar on a terminal)", run: cmdSync, subs: syncSubcommands},
		{name: "logs", usage: "logs [--event E] [--status S] [--client ID] [--endpoint E] [--since T] [--limit N] [--json] [--follow] | logs show ID  the delivery log, newest first (--follow: then each new entry as it comes); show: one entry with its payload", run: cmdLogs},
		{name: "replay", usage: "replay ID… | replay --status failed|rejected  process kept deliveries again (after adding the right secret or fixing a failure); exit 1 when one ends failed or rejected", run: cmdReplay},
		{name: "customers", usage: "customers [--q TEXT] [--role R] [--pricing-code C] [--active B] [--test] [--limit N] [--json] | customers show|history ID  the customer cache, sorted by name (--test: with send-test's TEST- customers); show: one record and its newest deliveries; history: its changes", run: cmdCustomers},
		{name: "backup", usage: "backup FILE|- [--force]          a consistent copy of the database (- = stdout)", run: cmdBackup},
		{name: "forward", usage: "forward list | attempts NAME | dead NAME | pause NAME | resume NAME | resend NAME [--dead] [--since T] [--event E] [--client ID] [ID…] | test NAME  the destinations that receive what arrives: their state, attempts and dead items; pause, resume, resend, a test item", subs: forwardSubcommands},
		{name: "send-test", usage: "send-test [--endpoint E] [--event client.updated] [--client-id TEST-1] [--count N] [--concurrency C] [--public]  sign test deliveries (client ids TEST-…) and post them to the local receiver, or with --public through the tunnel", run: cmdSendTest},
	}
}

// findCommand returns the command called name.
func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// Main runs the command in args (without the program name), reading stdin
// and writing to stdout and stderr. It returns the command's error, unprinted
// (Exit prints it once and picks the exit code). `run` is main's: here it
// only prints its help, or checks its flags and config.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts Options) error {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, opts: opts}
	if len(args) == 0 {
		printUsage(stderr)
		return usageError("no command given")
	}
	name, rest := args[0], args[1:]
	switch {
	case isHelp(name), name == "help" && (len(rest) == 0 || rest[0] == "help"):
		printUsage(stdout)
		return nil
	case name == "help":
		// help CMD is CMD -h: its usage line and its flags, exit 0; help
		// CMD SUB is CMD SUB -h.
		name, rest = rest[0], append(slices.Clone(rest[1:]), "-h")
	case name == "--version" || name == "-version":
		name = "version" // SPEC §6: version | --version
	}
	c, ok := findCommand(name)
	if !ok {
		return usageError("unknown command %q; robaws-edge help lists the commands", name)
	}
	env.usage = c.usage
	if c.subs != nil && len(rest) > 0 && isHelp(rest[0]) {
		// A group's own help: what it does and its subcommands.
		fmt.Fprintf(stdout, "usage: robaws-edge %s\n\n%s\n\nsubcommands: %s\n(robaws-edge help %s SUBCOMMAND lists its flags)\n",
			syntax(c.usage), describe(c.usage), strings.Join(c.subs.names(), ", "), name)
		return nil
	}
	var err error
	if c.run != nil {
		err = c.run(ctx, env, rest)
	} else {
		err = c.subs.run(ctx, env, c.name, rest)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage went to stdout
	}
	return c.explain(err)
}

// explain adds the command's usage line to a usage error, which Exit
// prints once; the config file's errors stay as they are (the command
// line was fine).
func (c command) explain(err error) error {
	var ce *configError
	if errors.As(err, &ce) || !errors.Is(err, errUsage) {
		return err
	}
	msg := strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
	return usageError("%s\nusage: robaws-edge %s\n(robaws-edge help %s lists its flags)", msg, syntax(c.usage), c.name)
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
