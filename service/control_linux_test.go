package service

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	kservice "github.com/kardianos/service"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// forced makes a kardianos system detect as present (DEPS §2.7).
type forced struct{ kservice.System }

func (forced) Detect() bool { return true }

// forceSystem makes kardianos use the system called name ("linux-systemd",
// "unix-systemv") until the test ends.
func forceSystem(t *testing.T, name string) {
	t.Helper()
	prev := append([]kservice.System(nil), kservice.AvailableSystems()...)
	var pick kservice.System
	for _, s := range prev {
		if s.String() == name {
			pick = s
		}
	}
	if pick == nil {
		t.Fatalf("kardianos has no system %q", name)
	}
	kservice.ChooseSystem(forced{pick})
	t.Cleanup(func() { kservice.ChooseSystem(prev...) })
}

// fakeSystemctl is a systemctl that appends its arguments to
// $FAKE_SYSTEMCTL_LOG and exits 1 for the actions listed in
// $FAKE_SYSTEMCTL_FAIL. Like the real one, enable/disable --user manage the
// link in ~/.config/systemd/user/default.target.wants.
const fakeSystemctl = `#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
for a in $FAKE_SYSTEMCTL_FAIL; do
	if [ "$1" = "$a" ]; then
		echo "Failed to $1: fake failure" >&2
		exit 1
	fi
done
d="$HOME/.config/systemd/user"
case "$1 $2" in
"enable --user") mkdir -p "$d/default.target.wants" && ln -sf "$d/$3" "$d/default.target.wants/$3" ;;
"disable --user") rm -f "$d/default.target.wants/$3" ;;
"is-active "*)
	echo "${FAKE_SYSTEMCTL_ACTIVE:-inactive}"
	[ "$FAKE_SYSTEMCTL_ACTIVE" = active ] && exit 0
	exit 3 ;;
"list-unit-files "*) [ -n "$FAKE_SYSTEMCTL_UNITS" ] && echo "$FAKE_SYSTEMCTL_UNITS" ;;
esac
exit 0
`

type fakeEnv struct {
	home string // $HOME
	log  string // file the fake systemctl appends to
}

// calls returns the systemctl invocations so far, one per line.
func (f fakeEnv) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// userUnit is where kardianos writes the user unit for name.
func (f fakeEnv) userUnit(name string) string {
	return filepath.Join(f.home, ".config", "systemd", "user", name+".service")
}

// setupSystemd forces the systemd backend with a fake systemctl first on
// PATH and HOME in a temp dir. Tests that use it must install user services
// only: as root a system service would go to the real /etc/systemd/system.
func setupSystemd(t *testing.T) fakeEnv {
	t.Helper()
	f := fakeEnv{home: t.TempDir()}
	bin := t.TempDir()
	f.log = filepath.Join(bin, "systemctl.log")
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", f.home)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_SYSTEMCTL_LOG", f.log)
	t.Setenv("FAKE_SYSTEMCTL_FAIL", "")
	t.Setenv("FAKE_SYSTEMCTL_ACTIVE", "")
	t.Setenv("FAKE_SYSTEMCTL_UNITS", "")
	forceSystem(t, platformSystemd)
	return f
}

func userConfig() Config {
	return Config{
		UserService: true,
		Executable:  "/usr/local/bin/robaws-edge",
		ConfigPath:  "/etc/robaws-edge/config.yaml",
		Logger:      discard(),
	}
}

func TestSystemdUserService(t *testing.T) {
	f := setupSystemd(t)
	const secret = "2abcSECRETngrokAuthtoken"
	t.Setenv("NGROK_AUTHTOKEN", secret)
	cfg := userConfig()

	if err := Control(cfg, "install"); err != nil {
		t.Fatalf("install: %v", err)
	}
	unit, err := os.ReadFile(f.userUnit("robaws-edge"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "robaws-edge.service.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, unit, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./service -run TestSystemdUserService -update)", err)
	}
	if diff := cmp.Diff(string(want), string(unit)); diff != "" {
		t.Errorf("unit file (-golden +got):\n%s", diff)
	}
	if strings.Contains(string(unit), "Environment=") {
		t.Errorf("unit file has an Environment= line:\n%s", unit)
	}
	if strings.Contains(string(unit), secret) {
		t.Errorf("unit file contains the authtoken:\n%s", unit)
	}
	wantCalls := []string{"enable --user robaws-edge.service", "daemon-reload --user"}
	if diff := cmp.Diff(wantCalls, f.calls(t)); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}

	// Install is not idempotent; the second one says so and touches nothing.
	err = Control(cfg, "install")
	if !errors.Is(err, ErrAlreadyInstalled) || !strings.Contains(err.Error(), "already installed") {
		t.Errorf("second install = %v, want ErrAlreadyInstalled", err)
	}
	if diff := cmp.Diff(wantCalls, f.calls(t)); diff != "" {
		t.Errorf("systemctl calls after second install (-want +got):\n%s", diff)
	}

	t.Run("status", func(t *testing.T) {
		for _, tt := range []struct{ active, units, want string }{
			{"active", "", StatusRunning},
			{"activating", "", StatusRunning},
			{"inactive", "robaws-edge.service enabled enabled", StatusStopped},
			{"failed", "", StatusStopped},
		} {
			t.Setenv("FAKE_SYSTEMCTL_ACTIVE", tt.active)
			t.Setenv("FAKE_SYSTEMCTL_UNITS", tt.units)
			got, err := Status(cfg)
			if err != nil || got != tt.want {
				t.Errorf("is-active %s: Status = %q, %v, want %q, nil", tt.active, got, err, tt.want)
			}
		}
		// The unit file is there but systemd does not know it.
		t.Setenv("FAKE_SYSTEMCTL_ACTIVE", "inactive")
		t.Setenv("FAKE_SYSTEMCTL_UNITS", "")
		got, err := Status(cfg)
		if got != StatusUnknown || err == nil || !strings.Contains(err.Error(), "is systemd running?") {
			t.Errorf("Status = %q, %v, want unknown and a systemd hint", got, err)
		}
	})

	t.Run("start fails", func(t *testing.T) {
		t.Setenv("FAKE_SYSTEMCTL_FAIL", "start restart")
		for _, action := range []string{"start", "restart"} {
			err := Control(cfg, action)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("%s = %v, want an *exec.ExitError inside", action, err)
			}
			want := action + " robaws-edge: systemctl: exit status 1: is systemd running? " +
				"see `systemctl --user status robaws-edge.service` and `journalctl --user -u robaws-edge`"
			if err.Error() != want {
				t.Errorf("%s error:\n got %s\nwant %s", action, err, want)
			}
		}
	})

	for _, action := range []string{"start", "stop", "restart"} {
		before := len(f.calls(t))
		if err := Control(cfg, action); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		want := action + " --user robaws-edge.service"
		if got := f.calls(t)[before:]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: systemctl calls %q, want %q", action, got, want)
		}
	}

	// Uninstall stops first and goes on when the stop fails.
	t.Setenv("FAKE_SYSTEMCTL_FAIL", "stop")
	before := len(f.calls(t))
	if err := Control(cfg, "uninstall"); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	wantCalls = []string{"stop --user robaws-edge.service", "disable --user robaws-edge.service", "daemon-reload --user"}
	if diff := cmp.Diff(wantCalls, f.calls(t)[before:]); diff != "" {
		t.Errorf("uninstall systemctl calls (-want +got):\n%s", diff)
	}
	if exists(f.userUnit("robaws-edge")) {
		t.Error("unit file still there after uninstall")
	}

	// Not installed: every action but install says so, Status is not an error.
	for _, action := range []string{"uninstall", "start", "stop", "restart"} {
		if err := Control(cfg, action); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s after uninstall = %v, want ErrNotInstalled", action, err)
		}
	}
	if got, err := Status(cfg); got != StatusNotInstalled || err != nil {
		t.Errorf("Status after uninstall = %q, %v, want %q, nil", got, err, StatusNotInstalled)
	}
}

// TestSystemdInstallFailureCleansUp: kardianos leaves the unit file when
// systemctl fails after writing it, which would block the next install.
func TestSystemdInstallFailureCleansUp(t *testing.T) {
	for _, fail := range []string{"enable", "daemon-reload"} {
		t.Run(fail, func(t *testing.T) {
			f := setupSystemd(t)
			cfg := userConfig()
			t.Setenv("FAKE_SYSTEMCTL_FAIL", fail)
			err := Control(cfg, "install")
			if err == nil || !strings.Contains(err.Error(), "is systemd running?") {
				t.Fatalf("install = %v, want a systemctl error with a hint", err)
			}
			unit := f.userUnit("robaws-edge")
			if exists(unit) {
				t.Errorf("%s left behind after a failed install", unit)
			}
			link := filepath.Join(filepath.Dir(unit), "default.target.wants", "robaws-edge.service")
			if exists(link) {
				t.Errorf("%s left behind after a failed install", link)
			}
			t.Setenv("FAKE_SYSTEMCTL_FAIL", "")
			if err := Control(cfg, "install"); err != nil {
				t.Errorf("install after the failure was fixed: %v", err)
			}
		})
	}
}

func TestSystemdRejectsUnsafePaths(t *testing.T) {
	f := setupSystemd(t)
	cfg := userConfig()
	cfg.ConfigPath = "/etc/robaws-edge/100%.yaml"
	if err := Control(cfg, "install"); err == nil || !strings.Contains(err.Error(), "systemd would rewrite") {
		t.Fatalf("install = %v, want an unsafe path error", err)
	}
	if exists(f.userUnit("robaws-edge")) {
		t.Error("unit file written despite the error")
	}
}

func TestNoSystemd(t *testing.T) {
	// A container without systemd: kardianos falls back to SysV scripts.
	forceSystem(t, platformSysV)
	cfg := Config{Name: "robaws-edge-test-sysv", Executable: "/usr/local/bin/robaws-edge", Logger: discard()}
	script := "/etc/init.d/" + cfg.Name
	if exists(script) {
		t.Fatalf("%s exists before the test", script)
	}
	t.Cleanup(func() { os.Remove(script) })

	err := Control(cfg, "install")
	if !errors.Is(err, ErrNoServiceManager) || !strings.Contains(err.Error(), "is systemd running?") {
		t.Errorf("install = %v, want ErrNoServiceManager", err)
	}
	if exists(script) {
		t.Errorf("install wrote %s", script)
	}
	if err := Control(cfg, "start"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("start = %v, want ErrNotInstalled", err)
	}
	if got, err := Status(cfg); got != StatusNotInstalled || err != nil {
		t.Errorf("Status = %q, %v, want %q, nil", got, err, StatusNotInstalled)
	}
}

func TestControlUnknownAction(t *testing.T) {
	for _, action := range []string{"status", "", "Install"} {
		if err := Control(Config{}, action); err == nil || !strings.Contains(err.Error(), "unknown service action") {
			t.Errorf("Control(%q) = %v, want unknown action", action, err)
		}
	}
}

func TestHint(t *testing.T) {
	exitErr := exec.Command("sh", "-c", "exit 1").Run()
	if !isExitError(exitErr) {
		t.Fatalf("sh exit 1 gave %v", exitErr)
	}
	const root = ": run as root (sudo) or as Administrator"
	const systemd = ": is systemd running? see `systemctl status robaws-edge.service` and `journalctl -u robaws-edge`"
	other := errors.New("something else")

	for _, tt := range []struct {
		name   string
		err    error
		want   string // exact message
		wantIs error  // and errors.Is
	}{
		{"nil", nil, "", nil},
		{"open unit denied",
			&fs.PathError{Op: "open", Path: "/etc/systemd/system/robaws-edge.service", Err: syscall.EACCES},
			"open /etc/systemd/system/robaws-edge.service: permission denied" + root, os.ErrPermission},
		{"mkdir denied", &fs.PathError{Op: "mkdir", Path: "/home/u/.config", Err: syscall.EPERM},
			"mkdir /home/u/.config: operation not permitted" + root, os.ErrPermission},
		{"denied as text", errors.New("Failed to install x: open /etc/init.d/x: permission denied"),
			"Failed to install x: open /etc/init.d/x: permission denied" + root, nil},
		{"windows access denied", errors.New("Access is denied."), "Access is denied." + root, nil},
		{"systemctl exit status", exitErr, "exit status 1" + systemd, exitErr},
		{"systemctl missing", errors.New(`"systemctl" failed: exec: "systemctl": executable file not found in $PATH`),
			`"systemctl" failed: exec: "systemctl": executable file not found in $PATH: service manager command not found` + systemd, nil},
		{"exec not found", fmt.Errorf("run: %w", exec.ErrNotFound),
			"run: executable file not found in $PATH: service manager command not found" + systemd, exec.ErrNotFound},
		{"init exists", errors.New("Init already exists: /etc/systemd/system/robaws-edge.service"),
			"already installed (run uninstall first): Init already exists: /etc/systemd/system/robaws-edge.service", ErrAlreadyInstalled},
		{"windows exists", errors.New("service robaws-edge already exists"),
			"already installed (run uninstall first): service robaws-edge already exists", ErrAlreadyInstalled},
		{"kardianos not installed", kservice.ErrNotInstalled,
			"not installed as a service (run install first): the service is not installed", ErrNotInstalled},
		{"windows not installed", errors.New("service robaws-edge is not installed"),
			"not installed as a service (run install first): service robaws-edge is not installed", ErrNotInstalled},
		{"ours unchanged", fmt.Errorf("%w: no /x", ErrNotInstalled), "not installed as a service (run install first): no /x", ErrNotInstalled},
		{"no manager unchanged", ErrNoServiceManager, ErrNoServiceManager.Error(), ErrNoServiceManager},
		{"unknown unchanged", other, "something else", other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := hint(Config{Name: "robaws-edge"}, tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("hint(nil) = %v, want nil", got)
				}
				return
			}
			if got.Error() != tt.want {
				t.Errorf("hint:\n got %s\nwant %s", got, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(got, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", got, tt.wantIs)
			}
		})
	}
}

// envAsNobody marks the copy of this test binary that runs as uid 65534.
const envAsNobody = "ROBAWS_SERVICE_TEST_AS_NOBODY"

// TestInstallWithoutRights tries real installs without the rights to write
// the unit file. Root may write anywhere, so as root the test runs itself
// again as nobody (uid 65534).
func TestInstallWithoutRights(t *testing.T) {
	if os.Geteuid() == 0 {
		if os.Getenv(envAsNobody) != "" {
			t.Fatal("still root after switching to uid 65534")
		}
		runAsNobody(t, "TestInstallWithoutRights")
		return
	}
	const want = "run as root (sudo) or as Administrator"

	// A user service whose home directory is not writable.
	f := setupSystemd(t)
	if err := os.Chmod(f.home, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(f.home, 0o755) })
	err := Control(userConfig(), "install")
	if !errors.Is(err, os.ErrPermission) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("user install = %v, want a permission error ending %q", err, want)
	}
	if calls := f.calls(t); len(calls) != 0 {
		t.Errorf("systemctl called: %q", calls)
	}

	// A system service: /etc/systemd/system belongs to root.
	const dir = "/etc/systemd/system"
	if syscall.Access(dir, 2 /* W_OK */) == nil {
		t.Logf("%s is writable by uid %d: system service case not applicable", dir, os.Geteuid())
		return
	}
	cfg := Config{Name: "robaws-edge-test-perm", Executable: "/usr/local/bin/robaws-edge", Logger: discard()}
	err = Control(cfg, "install")
	if _, serr := os.Stat(dir); serr != nil {
		// No systemd directory at all: the open fails with ENOENT.
		if err == nil {
			t.Errorf("system install without %s = nil, want an error", dir)
		}
		return
	}
	if !errors.Is(err, os.ErrPermission) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("system install = %v, want a permission error ending %q", err, want)
	}
	t.Logf("system install as uid %d: %v", os.Geteuid(), err)
}

// runAsNobody runs test name in a copy of the test binary as uid/gid 65534
// and fails if it does not pass.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// go test's build directory is private to root; use a world-readable
	// copy and a world-writable TMPDIR.
	dir, err := os.MkdirTemp("", "robaws-service-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{{dir, 0o755}, {tmp, 0o777 | fs.ModeSticky}} {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "service.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), envAsNobody+"=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
	}
	out, err := cmd.CombinedOutput()
	t.Logf("as uid 65534:\n%s", out)
	if err != nil {
		t.Fatalf("%s as uid 65534: %v", name, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s did not run as uid 65534", name)
	}
}
