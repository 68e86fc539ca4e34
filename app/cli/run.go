package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/service"
)

// `robaws-edge run` is started by main, which wires the daemon: cli only
// reads its command line (RunConfig), and keeps it in the command table
// for the usage and `help run`.

const runUsage = "run [--config F]                 run in the foreground (what the service runs)"

// RunConfig reads `run`'s command line, args being what follows "run":
// its flags, then the config file (--config F, else the default path if a
// file is there, else the built-in defaults). path is the file used, ""
// for the defaults. -h prints run's usage to stdout and returns
// flag.ErrHelp (Exit: 0); a bad flag or config is an error for Exit (2),
// said as Main says it.
func RunConfig(args []string, stdout io.Writer) (cfg configs.Config, path string, err error) {
	c, _ := findCommand("run")
	cfg, path, err = runConfig(&cliEnv{stdout: stdout, usage: c.usage}, args)
	return cfg, path, c.explain(err)
}

func runConfig(env *cliEnv, args []string) (configs.Config, string, error) {
	fs := newFlags(env, "run")
	configPath := configFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return configs.Config{}, "", err
	}
	cfg, path, err := configs.Load(*configPath)
	if err != nil {
		return configs.Config{}, "", ConfigError(err)
	}
	return cfg, path, nil
}

// cmdRun is `run` reached through Main, which main never does: it checks
// the flags and config (so `run -h` and `help run` work) and starts
// nothing.
func cmdRun(_ context.Context, env *cliEnv, args []string) error {
	if _, _, err := runConfig(env, args); err != nil {
		return err
	}
	return errors.New("run: this build has no daemon")
}

// Logger builds the daemon's one logger (log.level, log.format) on
// stderr, or, for a Windows service, whose stderr goes nowhere, appended to
// robaws-edge.log in the data dir; closeLog closes that file when the
// daemon is done (a no-op on stderr). Its first line says which config the
// daemon runs with (path, "" for the built-in defaults).
func Logger(cfg configs.Config, path string, stderr io.Writer) (logger *slog.Logger, closeLog func() error, err error) {
	out, closeLog := stderr, func() error { return nil }
	var rotateErr error
	if runtime.GOOS == "windows" && !service.Interactive() {
		var f *os.File
		f, rotateErr, err = openLogFile(filepath.Join(cfg.DataDirPath(), "robaws-edge.log"))
		if err != nil {
			return nil, nil, err
		}
		out, closeLog = f, f.Close
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // configs.Validate checked it
	opts := &slog.HandlerOptions{Level: level}
	logger = slog.New(slog.NewTextHandler(out, opts))
	if cfg.Log.Format == "json" {
		logger = slog.New(slog.NewJSONHandler(out, opts))
	}
	if rotateErr != nil {
		logger.Warn("log file", "error", rotateErr)
	}
	if path == "" {
		logger.Info("no config file, using built-in defaults", "default_path", configs.DefaultConfigPath())
	} else {
		logger.Info("config loaded", "path", path)
	}
	return logger, closeLog, nil
}

// openLogFile opens path for appending (0600), first moving a file over
// 50 MiB aside to path.1 so the log cannot grow without bound. A file that
// cannot be moved aside is still opened: rotateErr says why it grows.
func openLogFile(path string) (f *os.File, rotateErr, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 50<<20 {
		if err := os.Rename(path, path+".1"); err != nil {
			rotateErr = fmt.Errorf("the log %s is over 50 MiB and could not be moved aside (%w): it keeps growing", path, err)
		}
	}
	f, err = os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	return f, rotateErr, err
}
