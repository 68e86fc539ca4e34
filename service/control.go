package service

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	kservice "github.com/kardianos/service"
)

// Platform names as kardianos reports them.
const (
	platformSystemd = "linux-systemd"
	platformSysV    = "unix-systemv"
)

// Values returned by Status.
const (
	StatusRunning      = "running"
	StatusStopped      = "stopped"
	StatusNotInstalled = "not installed"
	StatusUnknown      = "unknown"
)

// Windows error numbers (winerror.h); syscall.Errno values compare equal to
// them on Windows and never occur elsewhere.
const (
	errnoServiceNotActive    = syscall.Errno(1062) // ERROR_SERVICE_NOT_ACTIVE
	errnoServiceDoesNotExist = syscall.Errno(1060) // ERROR_SERVICE_DOES_NOT_EXIST
)

// Control performs action on the service: "install", "uninstall", "start",
// "stop" or "restart". Install writes the service definition (on Linux a
// systemd unit, see the package comment) and enables it but does not start it;
// uninstall stops the service first. Stop of a stopped service succeeds.
//
// A system service whose unit a package put in a vendor directory
// (/usr/lib/systemd/system) counts as installed: start, stop and restart
// drive it, install and uninstall refuse with ErrPackaged.
//
// Errors are wrapped as "<action> <name>: …" and end with what to do:
// ErrAlreadyInstalled, ErrNotInstalled, ErrPackaged, ErrNoServiceManager
// (install on Linux without systemd), os.ErrPermission with "run as root (sudo) or as
// Administrator", or a service manager failure with "is systemd running?"
// and where to look. A failed install leaves no half-written unit file
// behind.
func Control(cfg Config, action string) error {
	switch action {
	case "install", "uninstall", "start", "stop", "restart":
	default:
		return fmt.Errorf("unknown service action %q: want install, uninstall, start, stop or restart", action)
	}
	c, err := cfg.resolve(action == "install")
	if err != nil {
		return fmt.Errorf("%s service: %w", action, err)
	}
	s, err := kservice.New(newProgram(nil, c.StopTimeout, c.Logger), c.kservice(nil))
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, c.Name, err)
	}
	if err := control(c, s, action); err != nil {
		if s.Platform() == platformSystemd && isExitError(err) {
			err = fmt.Errorf("systemctl: %w", err)
		}
		return fmt.Errorf("%s %s: %w", action, c.Name, hint(c, err))
	}
	return nil
}

func control(c Config, s kservice.Service, action string) error {
	logger := c.Logger.With("component", "service", "platform", s.Platform())
	file, err := initFile(c, s.Platform())
	if err != nil {
		return err
	}
	packaged := packagedUnit(c, s.Platform())
	if file != "" && action != "install" && !exists(file) {
		switch {
		case packaged == "":
			return fmt.Errorf("%w: no %s", ErrNotInstalled, file)
		case action == "uninstall":
			return fmt.Errorf("%w: %s", ErrPackaged, packaged)
		}
		// start, stop, restart: systemctl finds the package's unit.
	}

	switch action {
	case "install":
		if packaged != "" {
			return fmt.Errorf("%w: %s", ErrPackaged, packaged)
		}
		return install(c, s, file, logger)
	case "uninstall":
		// kardianos' Uninstall does not stop the service (DEPS §2.3). A
		// stop that fails (not running, manager down) must not keep the
		// user from uninstalling; the uninstall reports real trouble.
		if err := s.Stop(); err != nil {
			logger.Debug("stop before uninstall", "error", err)
		}
		if err := s.Uninstall(); err != nil {
			return err
		}
		logger.Info("service uninstalled", "name", c.Name)
		return nil
	case "start":
		return s.Start()
	case "stop":
		err := s.Stop()
		if runtime.GOOS == "windows" && errors.Is(err, errnoServiceNotActive) {
			return nil
		}
		return err
	default: // restart
		return s.Restart()
	}
}

func install(c Config, s kservice.Service, file string, logger *slog.Logger) error {
	platform := s.Platform()
	if platform == platformSysV {
		return ErrNoServiceManager
	}
	if platform == platformSystemd {
		if err := checkSystemdPaths(c); err != nil {
			return err
		}
	} else if c.UserName != "" {
		return fmt.Errorf("running the service as user %s works with systemd only; drop the user name", c.UserName)
	}
	if file != "" && exists(file) {
		return fmt.Errorf("%w: %s exists", ErrAlreadyInstalled, file)
	}
	// Where no file tells, ask the manager, so that cleanup after a failure
	// never removes a service that was there before.
	wasInstalled := true
	if file == "" {
		_, err := s.Status()
		wasInstalled = !errors.Is(err, kservice.ErrNotInstalled)
	}

	err := s.Install()
	if err == nil {
		logger.Info("service installed", "name", c.Name, "file", file, "executable", c.Executable, "config", c.ConfigPath)
		return nil
	}
	// kardianos leaves the unit file behind when systemctl fails after
	// writing it, and an empty one when the template fails to render; the
	// next install would then say "already exists" (DEPS §2.6).
	switch {
	case file != "":
		if rerr := removeUnit(c, file); rerr != nil {
			logger.Warn("remove unit file after failed install", "file", file, "error", rerr)
		}
	case !wasInstalled:
		if uerr := s.Uninstall(); uerr != nil {
			logger.Debug("uninstall after failed install", "error", uerr)
		}
	}
	return err
}

// checkSystemdPaths rejects paths that systemd would not pass through
// verbatim in ExecStart=: it expands % specifiers and $ variables and
// unescapes backslashes even inside quotes.
func checkSystemdPaths(c Config) error {
	for _, p := range []struct{ what, path string }{
		{"executable", c.Executable},
		{"config path", c.ConfigPath},
	} {
		if strings.ContainsAny(p.path, "%$\\\"\r\n") {
			return fmt.Errorf("%s %q contains a character systemd would rewrite (%% $ \\ \" or a newline): move the file", p.what, p.path)
		}
		if strings.Contains(p.path, "{{") {
			return fmt.Errorf("%s %q contains \"{{\", which the unit template would read as an action: move the file", p.what, p.path)
		}
	}
	return nil
}

// Status reports the service's state: StatusRunning, StatusStopped,
// StatusNotInstalled or StatusUnknown. The error is non-nil only when the
// state could not be determined, such as when the service manager does not
// answer; it then carries the same hints as Control's errors. A unit that
// systemd marks failed counts as stopped.
func Status(cfg Config) (string, error) {
	c, err := cfg.resolve(false)
	if err != nil {
		return StatusUnknown, fmt.Errorf("service status: %w", err)
	}
	s, err := kservice.New(newProgram(nil, c.StopTimeout, c.Logger), c.kservice(nil))
	if err != nil {
		return StatusUnknown, fmt.Errorf("status %s: %w", c.Name, err)
	}
	file, err := initFile(c, s.Platform())
	if err != nil {
		return StatusUnknown, fmt.Errorf("status %s: %w", c.Name, err)
	}
	if file != "" && !exists(file) {
		if file = packagedUnit(c, s.Platform()); file == "" {
			return StatusNotInstalled, nil
		}
	}
	st, err := s.Status()
	switch {
	case err == nil:
		switch st {
		case kservice.StatusRunning:
			return StatusRunning, nil
		case kservice.StatusStopped:
			return StatusStopped, nil
		}
		return StatusUnknown, nil
	case errors.Is(err, kservice.ErrNotInstalled) && file == "":
		return StatusNotInstalled, nil
	case errors.Is(err, kservice.ErrNotInstalled):
		// The file is there but the manager does not know the unit:
		// systemd is not running, or it was not reloaded.
		return StatusUnknown, fmt.Errorf("status %s: %s exists but the service manager does not report it: %s", c.Name, file, managerHint(c))
	case err.Error() == "service in failed state":
		return StatusStopped, nil
	}
	return StatusUnknown, fmt.Errorf("status %s: %w", c.Name, hint(c, err))
}

// hint adds to err what the user can do about it. It maps the errors of
// kardianos, whose texts are all we have (it wraps with %v and discards the
// service manager's stderr), onto our sentinels and advice. Errors it does
// not recognise are returned unchanged.
func hint(c Config, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, ErrAlreadyInstalled), errors.Is(err, ErrNotInstalled), errors.Is(err, ErrNoServiceManager):
		return err
	case errors.Is(err, os.ErrPermission),
		strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "Access is denied"):
		return fmt.Errorf("%w: run as root (sudo) or as Administrator", err)
	case strings.Contains(msg, "already exists"):
		// kardianos: "Init already exists: <file>"; Windows: "service <name> already exists".
		return fmt.Errorf("%w: %w", ErrAlreadyInstalled, err)
	case errors.Is(err, kservice.ErrNotInstalled),
		strings.Contains(msg, "is not installed"),
		runtime.GOOS == "windows" && errors.Is(err, errnoServiceDoesNotExist):
		return fmt.Errorf("%w: %w", ErrNotInstalled, err)
	case errors.Is(err, exec.ErrNotFound), strings.Contains(msg, "executable file not found"):
		return fmt.Errorf("%w: service manager command not found: %s", err, managerHint(c))
	case isExitError(err):
		return fmt.Errorf("%w: %s", err, managerHint(c))
	}
	return err
}

// managerHint is the advice for a service manager that failed or is absent.
func managerHint(c Config) string {
	if runtime.GOOS != "linux" {
		return "check the service manager's log"
	}
	user := ""
	if c.UserService {
		user = "--user "
	}
	return fmt.Sprintf("is systemd running? see `systemctl %sstatus %s.service` and `journalctl %s-u %s`",
		user, c.Name, user, c.Name)
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
