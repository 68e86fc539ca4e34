package service

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// systemdUnit returns the unit file template for c, in the syntax of
// kardianos v1.3.0's own template engine: {{Key}} with no dot (DEPS §2.5).
// The keys come from the data map in service_systemd_linux.go Install. That
// map has no user-service flag, so the parts that differ (WantedBy) are filled
// in here in Go.
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
func systemdUnit(c Config) string {
	wantedBy := "multi-user.target"
	if c.UserService {
		wantedBy = "default.target"
	}
	stopSec := int((c.StopTimeout + 5*time.Second + time.Second - 1) / time.Second)
	return `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
EnvironmentFile=-/etc/sysconfig/{{Name}}
Restart=on-failure
RestartSec=5
RestartPreventExitStatus=2
TimeoutStopSec=` + strconv.Itoa(stopSec) + `
SyslogIdentifier={{Name}}

[Install]
WantedBy=` + wantedBy + `
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
