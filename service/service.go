// Package service runs robaws-edge as an operating-system service and
// installs, starts, stops and removes it. It adapts github.com/kardianos/service
// (imported as kservice) and is the only package that knows about it.
//
// Run hosts a func(ctx) error. The same code path serves a terminal and a
// service manager: Start runs the function in a goroutine with a cancellable
// context and returns at once; a SIGTERM or interrupt (or the Windows service
// control manager) leads to Stop, which cancels the context and waits up to
// Config.StopTimeout. When the function returns on its own, Run returns its
// error at once instead of waiting for a signal, so the process exits and the
// service manager restarts it.
//
// Control and Status drive the service manager. On Linux only systemd is
// supported: the unit file comes from our own template (Restart=on-failure,
// RestartSec=5, no Environment= lines) instead of kardianos' default, whose
// defects are listed in DEPS.md §2.5; SystemdUnit returns that text, which
// the .deb ships in /usr/lib/systemd/system, where Control and Status find it
// too. Windows services start automatically and
// are restarted on failure; macOS uses launchd with RunAtLoad.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	kservice "github.com/kardianos/service"
)

// Defaults used for the zero values of Config.
const (
	DefaultName        = "robaws-edge"
	DefaultDisplayName = "Robaws Edge"
	DefaultDescription = "Robaws Edge webhook receiver"
	DefaultStopTimeout = 25 * time.Second
)

// Config describes the service. The zero value is usable: every empty field
// takes the default named in its comment.
type Config struct {
	// Name is the service name: the systemd unit <Name>.service, the Windows
	// service name, the launchd label. Letters, digits, '.', '_' and '-'
	// only. Default DefaultName ("robaws-edge").
	Name string

	// DisplayName is shown by the Windows service manager. Default
	// DefaultDisplayName ("Robaws Edge").
	DisplayName string

	// Description is the unit's Description= and the Windows service
	// description. Default DefaultDescription.
	Description string

	// ConfigPath is the configuration file the installed service runs with:
	// the service command line is `run --config <ConfigPath>`, or just `run`
	// when ConfigPath is empty. A relative path is made absolute against the
	// working directory at the time of the call, because services do not
	// start in the caller's directory. Optional.
	ConfigPath string

	// Executable is the binary the service manager starts. Default
	// os.Executable() of the calling process, so install from the binary's
	// final location (not from `go run`). Made absolute if relative.
	Executable string

	// UserService installs a per-user service (a systemd user unit in
	// ~/.config/systemd/user, a launchd agent) that needs no root. Default
	// false: a system service.
	UserService bool

	// UserName is the account a systemd system service runs as (User= and
	// Group= of the same name, so the account needs a group of its name, as
	// `adduser --system --group` makes). Linux only; install refuses it
	// elsewhere. Default "": root.
	UserName string

	// unitDirs are the directories where a package puts its systemd unit
	// (default packageUnitDirs()); tests point them at a temp dir.
	unitDirs []string

	// StopTimeout is how long Stop waits for the run function to return
	// after its context is cancelled. Default DefaultStopTimeout (25s).
	// The systemd unit's TimeoutStopSec is 5s longer.
	StopTimeout time.Duration

	// Logger receives lifecycle lines. Default: discard.
	Logger *slog.Logger
}

// packageUnitDirs are systemd's vendor unit directories, where a package
// (the .deb) puts robaws-edge.service; a unit in /etc/systemd/system, which
// install writes, overrides them.
func packageUnitDirs() []string { return []string{"/usr/lib/systemd/system", "/lib/systemd/system"} }

// Sentinel errors returned (wrapped) by Control and Status.
var (
	// ErrAlreadyInstalled is returned by Control("install") when the
	// service is already installed.
	ErrAlreadyInstalled = errors.New("already installed (run uninstall first)")

	// ErrNotInstalled is returned by Control for every action but install
	// when the service is not installed.
	ErrNotInstalled = errors.New("not installed as a service (run install first)")

	// ErrPackaged is returned by Control("install") and
	// Control("uninstall") when a package (the .deb) installed the service:
	// its unit is in a vendor directory such as /usr/lib/systemd/system,
	// which install and uninstall do not manage.
	ErrPackaged = errors.New("installed by a package: upgrade or remove it with the package manager (sudo apt remove robaws-edge)")

	// ErrNoServiceManager is returned by Control("install") when no
	// supported service manager was found, as in a container without
	// systemd, where kardianos falls back to SysV init scripts that nothing
	// would run.
	ErrNoServiceManager = errors.New("no supported service manager found: is systemd running? " +
		"(in a container, run `robaws-edge run` as the container's command instead)")
)

// resolve returns c with defaults applied and paths made absolute. With
// needExe the executable is looked up too (install needs it; running does
// not).
func (c Config) resolve(needExe bool) (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.DisplayName == "" {
		c.DisplayName = DefaultDisplayName
	}
	if c.Description == "" {
		c.Description = DefaultDescription
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if !validName(c.Name) {
		return c, fmt.Errorf("invalid service name %q: use letters, digits, '.', '_' and '-'", c.Name)
	}
	if c.UserName != "" && !validName(c.UserName) {
		return c, fmt.Errorf("invalid user name %q: use letters, digits, '.', '_' and '-'", c.UserName)
	}
	if c.UserName != "" && c.UserService {
		return c, errors.New("a user service runs as the user who installs it: drop the user name, or install a system service")
	}
	if c.unitDirs == nil {
		c.unitDirs = packageUnitDirs()
	}
	if strings.ContainsAny(c.DisplayName+c.Description, "\r\n") {
		return c, errors.New("service display name and description must be one line")
	}
	if c.ConfigPath != "" {
		abs, err := filepath.Abs(c.ConfigPath)
		if err != nil {
			return c, fmt.Errorf("config path: %w", err)
		}
		c.ConfigPath = abs
	}
	if c.Executable != "" {
		abs, err := filepath.Abs(c.Executable)
		if err != nil {
			return c, fmt.Errorf("executable: %w", err)
		}
		c.Executable = abs
	} else if needExe {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("find executable: %w", err)
		}
		// A `go run` binary lives in a build cache directory that is
		// deleted on exit; a unit pointing there never starts.
		if strings.Contains(exe, string(filepath.Separator)+"go-build") {
			return c, fmt.Errorf("executable %s looks like a `go run` build: build the binary and run install from its final location", exe)
		}
		c.Executable = exe
	}
	return c, nil
}

func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// arguments is the command line the service manager passes to Executable.
func (c Config) arguments() []string {
	if c.ConfigPath == "" {
		return []string{"run"}
	}
	return []string{"run", "--config", c.ConfigPath}
}

// kservice builds the kardianos configuration. wait, when not nil, is the
// POSIX RunWait function.
func (c Config) kservice(wait func()) *kservice.Config {
	opt := kservice.KeyValue{
		// POSIX.
		"UserService":   c.UserService,
		"SystemdScript": systemdUnit(c),
		// Windows: start at boot, restart after a crash (DEPS §2.1).
		"StartType":              "automatic",
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "5s",
		// macOS: start at load; KeepAlive (restart) is kardianos' default.
		"RunAtLoad": true,
	}
	if wait != nil {
		opt["RunWait"] = wait
	}
	// No EnvVars: kardianos writes them in plain text into a world-readable
	// unit file. Secrets belong in the config or /etc/sysconfig/<Name>.
	return &kservice.Config{
		Name:        c.Name,
		DisplayName: c.DisplayName,
		Description: c.Description,
		Executable:  c.Executable,
		Arguments:   c.arguments(),
		Option:      opt,
	}
}

// Run runs fn as the service, or in the foreground when started from a
// terminal; both take the same path. fn gets a context that is cancelled when
// the service is told to stop (SIGTERM, interrupt, the Windows service control
// manager); Run then waits up to StopTimeout for fn to return and returns
// fn's error, nil when fn returned nil or context.Canceled after the stop, or
// an error when fn did not return in time.
//
// When fn returns on its own, not because of a stop, Run returns fn's error
// at once so the process can exit non-zero and the service manager restart
// it. Exception: under the Windows service control manager, which cannot be
// told that the service ended, the error is logged and the process exits with
// status 1, which the SCM treats as a crash and restarts.
func Run(cfg Config, fn func(ctx context.Context) error) error {
	if fn == nil {
		return errors.New("service: nil run function")
	}
	c, err := cfg.resolve(false)
	if err != nil {
		return err
	}
	p := newProgram(fn, c.StopTimeout, c.Logger.With("component", "service"))
	s, err := kservice.New(p, c.kservice(p.wait))
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if runtime.GOOS == "windows" {
		if kservice.Interactive() {
			// kardianos ignores RunWait on Windows and waits only for
			// os.Interrupt, so it would not notice fn returning.
			if err := p.Start(s); err != nil {
				return err
			}
			p.wait()
			return p.Stop(s)
		}
		go p.exitOnOwnReturn()
	}
	return s.Run()
}

// program is the kservice.Interface around the run function. It is used
// once: Start, then Stop.
type program struct {
	fn      func(context.Context) error
	timeout time.Duration
	logger  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when fn has returned

	mu      sync.Mutex
	started bool

	// Written by the run goroutine before done is closed.
	err error // fn's result
	own bool  // fn returned before its context was cancelled
}

func newProgram(fn func(context.Context) error, timeout time.Duration, logger *slog.Logger) *program {
	ctx, cancel := context.WithCancel(context.Background())
	return &program{
		fn:      fn,
		timeout: timeout,
		logger:  logger,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
}

// Start runs fn in a goroutine and returns at once, as kardianos requires.
func (p *program) Start(kservice.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("service already started")
	}
	p.started = true
	p.logger.Info("service starting", "platform", kservice.Platform(), "interactive", kservice.Interactive())
	go func() {
		defer close(p.done)
		err := p.fn(p.ctx)
		p.own = p.ctx.Err() == nil
		p.err = err
	}()
	return nil
}

// Stop cancels fn's context and waits up to the stop timeout for it to
// return. It returns fn's error, except context.Canceled caused by the stop.
func (p *program) Stop(kservice.Service) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	p.cancel()
	if !started {
		return nil
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return fmt.Errorf("service did not stop within %s", p.timeout)
	}
	err := p.err
	if !p.own && errors.Is(err, context.Canceled) {
		err = nil
	}
	p.logger.Info("service stopped")
	return err
}

// wait blocks until SIGTERM or an interrupt arrives or fn returns on its own.
// It is kardianos' RunWait: Run calls Stop when it returns.
func (p *program) wait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		p.logger.Info("service stopping", "signal", s.String())
	case <-p.done:
		// fn returned on its own; Stop collects its error.
	}
}

// exitOnOwnReturn ends the process when fn returns on its own under the
// Windows service control manager, which kardianos gives no way to stop
// from inside. The exit without a stopped state counts as a crash, so the
// SCM's restart-on-failure applies.
func (p *program) exitOnOwnReturn() {
	<-p.done
	if !p.own {
		return
	}
	p.logger.Error("service ended on its own; exiting so the service manager restarts it", "error", p.err)
	os.Exit(1)
}

// Interactive reports whether the process runs in a terminal rather than
// under a service manager (on Windows a service has no console, so its logs
// must go to a file).
func Interactive() bool { return kservice.Interactive() }
