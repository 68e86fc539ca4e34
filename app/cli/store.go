package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/service"
	"github.com/robaws-edge/robaws-edge/store"
)

// cmdCheck is `check`: bbolt's full consistency check of the database file
// of a stopped daemon, with progress on a terminal.
func cmdCheck(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "check")
	configPath := fs.String("config", "", "config file (default: "+configs.DefaultConfigPath()+" if it exists)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, _, err := configs.Load(*configPath)
	if err != nil {
		return ConfigError(err)
	}
	path := cfg.DBPath()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database at %s (data_dir %s): nothing to check", path, cfg.DataDirPath())
	}
	progress := func(done, total int) {}
	tty := isTerminal(env.stderr)
	if tty {
		progress = func(done, total int) {
			fmt.Fprintf(env.stderr, "\rchecking %s: %d/%d pages", path, done, total)
		}
	}
	err = store.CheckFile(path, progress)
	if tty {
		fmt.Fprintln(env.stderr)
	}
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("check %s: the daemon has it open; %s, then run check again", path, stopAdvice(serviceState()))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: ok (bbolt consistency check passed)\n", path)
	return nil
}

// cmdRestore is `restore FILE`: validate a backup and put it in place of the
// stopped daemon's database, keeping the current file aside. `restore
// --empty` puts a new empty database there instead: the one way to start
// empty where a database was, which `run` refuses to do on its own.
func cmdRestore(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "restore")
	configPath := fs.String("config", "", "config file (default: "+configs.DefaultConfigPath()+" if it exists)")
	empty := fs.Bool("empty", false, "start with a new empty database instead of a backup (the current file is kept aside)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *empty && len(pos) > 0:
		return usageError("restore --empty takes no FILE: it puts a new empty database in place")
	case !*empty && len(pos) != 1:
		return usageError("restore needs one FILE: a backup written by `robaws-edge backup` (or --empty to start with an empty database)")
	}
	cfg, _, err := configs.Load(*configPath)
	if err != nil {
		return ConfigError(err)
	}
	path := cfg.DBPath()
	if err := os.MkdirAll(cfg.DataDirPath(), 0o700); err != nil {
		return err
	}
	from := "a new empty database"
	var aside string
	if *empty {
		aside, err = store.RestoreEmpty(path)
	} else {
		from = pos[0]
		aside, err = store.Restore(path, pos[0])
	}
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("restore: the daemon has %s open; %s, then run restore again", path, stopAdvice(serviceState()))
	}
	if err != nil {
		return err
	}
	if aside != "" {
		fmt.Fprintf(env.stdout, "restored %s from %s; the previous file is kept as %s\n", path, from, aside)
	} else {
		fmt.Fprintf(env.stdout, "restored %s from %s\n", path, from)
	}
	return nil
}

// serviceState is the service's state as service.Status tells it
// (service.StatusUnknown when it cannot).
func serviceState() string {
	st, _ := service.Status(service.Config{})
	return st
}

// stopAdvice says how to stop the daemon that holds the database, true on
// this machine: `robaws-edge stop` only where the service is installed (and
// running), else the process started by hand.
func stopAdvice(state string) string {
	switch state {
	case service.StatusRunning:
		return "stop it first (robaws-edge stop: the service runs it)"
	case service.StatusNotInstalled, service.StatusStopped:
		// No service runs it: someone started `robaws-edge run`.
		return "stop it first (Ctrl-C where `robaws-edge run` runs: no service runs it)"
	}
	return "stop it first (robaws-edge stop for the service, or Ctrl-C where `robaws-edge run` runs)"
}
