package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// debConfig is the service as the .deb installs it.
func debConfig() Config {
	return Config{
		Executable: "/usr/bin/robaws-edge",
		ConfigPath: "/etc/robaws-edge/config.yaml",
		UserName:   "robaws-edge",
		Logger:     discard(),
	}
}

// TestSystemdUnitForPackage pins the unit the .deb ships (made with
// `robaws-edge install --print-unit`): a system service run as its own user.
func TestSystemdUnitForPackage(t *testing.T) {
	unit, err := SystemdUnit(debConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "robaws-edge.deb.service.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./service -run TestSystemdUnitForPackage -update)", err)
	}
	if diff := cmp.Diff(string(want), unit); diff != "" {
		t.Errorf("unit file (-golden +got):\n%s", diff)
	}
	for _, line := range []string{"User=robaws-edge\nGroup=robaws-edge\n", "\nWantedBy=multi-user.target\n"} {
		if !strings.Contains(unit, line) {
			t.Errorf("unit lacks %q:\n%s", line, unit)
		}
	}

	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bad user", func(c *Config) { c.UserName = "robaws edge" }, `invalid user name "robaws edge"`},
		{"user service", func(c *Config) { c.UserService = true }, "a user service runs as the user who installs it"},
		{"template action in path", func(c *Config) { c.ConfigPath = "/etc/{{Name}}.yaml" }, `contains "{{"`},
		{"specifier in path", func(c *Config) { c.Executable = "/opt/100%/robaws-edge" }, "systemd would rewrite"},
	} {
		c := debConfig()
		tt.edit(&c)
		if _, err := SystemdUnit(c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: SystemdUnit = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestSystemdUnitIsWhatInstallWrites: install writes SystemdUnit's text byte
// for byte, escapes included, so a packaged unit made with it cannot drift.
func TestSystemdUnitIsWhatInstallWrites(t *testing.T) {
	f := setupSystemd(t)
	cfg := userConfig()
	cfg.Executable = "/opt/robaws edge/robaws-edge"
	cfg.ConfigPath = "/opt/robaws edge/it's config.yaml"
	want, err := SystemdUnit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want, `ExecStart=/opt/robaws\x20edge/robaws-edge "run" "--config" "/opt/robaws edge/it's config.yaml"`) {
		t.Errorf("ExecStart not escaped as kardianos does:\n%s", want)
	}
	if err := Control(cfg, "install"); err != nil {
		t.Fatalf("install: %v", err)
	}
	got, err := os.ReadFile(f.userUnit("robaws-edge"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("installed unit (-SystemdUnit +installed):\n%s", diff)
	}
}

// TestSystemdPackagedUnit: a unit from the .deb (in a vendor directory, not
// /etc/systemd/system) is installed as far as status, start and stop go;
// install and uninstall leave it to the package manager.
func TestSystemdPackagedUnit(t *testing.T) {
	f := setupSystemd(t)
	vendor := t.TempDir()
	cfg := Config{Name: "robaws-edge-test-pkg", Executable: "/usr/bin/robaws-edge", Logger: discard(), unitDirs: []string{vendor}}
	// A system service: a broken check would let kardianos write the real
	// /etc/systemd/system file (the fake systemctl keeps it inert).
	etc := "/etc/systemd/system/" + cfg.Name + ".service"
	if exists(etc) {
		t.Fatalf("%s exists before the test", etc)
	}
	t.Cleanup(func() {
		if exists(etc) {
			os.Remove(etc)
			t.Errorf("%s was written", etc)
		}
	})

	if got, err := Status(cfg); got != StatusNotInstalled || err != nil {
		t.Fatalf("Status without a unit = %q, %v, want %q", got, err, StatusNotInstalled)
	}
	unit := filepath.Join(vendor, cfg.Name+".service")
	if err := os.WriteFile(unit, []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_SYSTEMCTL_ACTIVE", "active")
	if got, err := Status(cfg); got != StatusRunning || err != nil {
		t.Errorf("Status = %q, %v, want %q", got, err, StatusRunning)
	}
	for _, action := range []string{"install", "uninstall"} {
		err := Control(cfg, action)
		if !errors.Is(err, ErrPackaged) || !strings.Contains(err.Error(), unit) || !strings.Contains(err.Error(), "apt remove") {
			t.Errorf("%s = %v, want ErrPackaged naming %s", action, err, unit)
		}
	}
	// Only Status asked systemctl; install and uninstall did not.
	if diff := cmp.Diff([]string{"is-active " + cfg.Name + ".service"}, f.calls(t)); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
	for _, action := range []string{"start", "stop", "restart"} {
		before := len(f.calls(t))
		if err := Control(cfg, action); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		want := action + " " + cfg.Name + ".service"
		if got := f.calls(t)[before:]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: systemctl calls %q, want %q", action, got, want)
		}
	}
	if _, err := os.Stat(unit); err != nil {
		t.Errorf("the package's unit: %v", err)
	}
}
