package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SystemdUnit returns the systemd unit file that Control(cfg, "install")
// writes for a system service (or a user service with cfg.UserService), byte
// for byte: install hands this very text to kardianos. Packages ship it
// (`robaws-edge install --print-unit`) so that a packaged unit cannot drift
// from an installed one. Nothing on disk is read or written; Executable
// defaults to os.Executable() as for install.
func SystemdUnit(cfg Config) (string, error) {
	c, err := cfg.resolve(true)
	if err != nil {
		return "", fmt.Errorf("service unit: %w", err)
	}
	if err := checkSystemdPaths(c); err != nil {
		return "", fmt.Errorf("service unit: %w", err)
	}
	return systemdUnit(c), nil
}

// systemdUnit renders the unit file for c (resolved). kardianos gets it as
// its SystemdScript template: it contains no {{ action (checkSystemdPaths
// rejects "{{" in the paths), so kardianos' engine writes it unchanged. The
// escaping is kardianos' own: cmdEscape (spaces as \x20) for the executable,
// cmd (double quotes, \" inside) for each argument (DEPS §2.5).
//
// Differences from kardianos' default unit and why:
//   - Restart=on-failure, RestartSec=5: the default restarts even after a
//     clean exit, and only after 120 s.
//   - RestartPreventExitStatus=2: exit status 2 means bad usage or config
//     (SPEC §6); restarting cannot fix it.
//   - StartLimitIntervalSec=0: never give up; RestartSec already paces the
//     restarts while the network or ngrok is down.
//   - WantedBy=default.target for user services: multi-user.target does not
//     exist in the user manager, so the unit would never start at login.
//   - No Environment= lines: the unit file is world-readable. Secrets go in
//     the config file or in /etc/sysconfig/<Name> (mode 0600).
//   - TimeoutStopSec: a little longer than StopTimeout, so our own deadline
//     fires first and the error is logged before systemd sends SIGKILL.
//   - User= and Group= (both UserName) only when UserName is set; the .deb
//     runs the service as its own system user.
func systemdUnit(c Config) string {
	stopSec := int((c.StopTimeout + 5*time.Second + time.Second - 1) / time.Second)
	exe := strings.ReplaceAll(c.Executable, " ", `\x20`)
	execStart := exe
	for _, a := range c.arguments() {
		execStart += ` "` + strings.ReplaceAll(a, `"`, `\"`) + `"`
	}
	user := ""
	if c.UserName != "" {
		user = "User=" + c.UserName + "\nGroup=" + c.UserName + "\n"
	}
	return `[Unit]
Description=` + c.Description + `
ConditionFileIsExecutable=` + exe + `
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
` + user + `ExecStart=` + execStart + `
EnvironmentFile=-/etc/sysconfig/` + c.Name + `
Restart=on-failure
RestartSec=5
RestartPreventExitStatus=2
TimeoutStopSec=` + strconv.Itoa(stopSec) + `
SyslogIdentifier=` + c.Name + `

[Install]
WantedBy=` + systemdWantedBy(c) + `
`
}

// systemdWantedBy is the target whose .wants directory `systemctl enable`
// links the unit into.
func systemdWantedBy(c Config) string {
	if c.UserService {
		return "default.target"
	}
	return "multi-user.target"
}

// initFile returns the file that marks the service as installed on
// platform, as kardianos writes it, or "" when we do not track one there.
func initFile(c Config, platform string) (string, error) {
	switch platform {
	case platformSystemd:
		if !c.UserService {
			return "/etc/systemd/system/" + c.Name + ".service", nil
		}
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, ".config", "systemd", "user", c.Name+".service"), nil
	case platformSysV:
		return "/etc/init.d/" + c.Name, nil
	}
	return "", nil
}

// packagedUnit returns the unit file a package installed for the system
// service c on platform, or "" when there is none, c is a user service or
// platform is not systemd.
func packagedUnit(c Config, platform string) string {
	if platform != platformSystemd || c.UserService {
		return ""
	}
	for _, dir := range c.unitDirs {
		if f := filepath.Join(dir, c.Name+".service"); exists(f) {
			return f
		}
	}
	return ""
}

// removeUnit deletes a unit file left behind by a failed install, and the
// link `systemctl enable` may already have made to it.
func removeUnit(c Config, unit string) error {
	err := os.Remove(unit)
	if os.IsNotExist(err) {
		err = nil
	}
	link := filepath.Join(filepath.Dir(unit), systemdWantedBy(c)+".wants", filepath.Base(unit))
	if fi, lerr := os.Lstat(link); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
		if rerr := os.Remove(link); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
