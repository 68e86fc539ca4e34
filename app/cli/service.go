package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/service"
)

// serviceDone is what each service action prints when it succeeds.
var serviceDone = map[string]string{
	"install":   "installed the robaws-edge service (start it with `robaws-edge start`)",
	"uninstall": "uninstalled the robaws-edge service",
	"start":     "started the robaws-edge service",
	"stop":      "stopped the robaws-edge service",
	"restart":   "restarted the robaws-edge service",
}

// cmdService returns the command for a service action (install,
// uninstall, start, stop, restart). The config is checked first, so a
// service never gets installed or started with a file `run` would refuse.
func cmdService(action string) func(context.Context, *cliEnv, []string) error {
	return func(_ context.Context, env *cliEnv, args []string) error {
		fs := newFlags(env, action)
		configPath := fs.String("config", "", "config file the service runs with (default: "+configs.DefaultConfigPath()+" if it exists, else built-in defaults)")
		var exe, runAs *string
		var printUnit *bool
		if action == "install" {
			exe = fs.String("executable", "", "binary the service starts (default: this one, where it is now)")
			runAs = fs.String("run-as", "", "Linux: run the service as this system user (User= and Group= in the unit; the user needs a group of its name)")
			printUnit = fs.Bool("print-unit", false, "print the systemd unit install would write and install nothing (no file is read: packages are built with it)")
		}
		if err := noArgs(fs, args); err != nil {
			return err
		}
		cfg := service.Config{}
		if action == "install" {
			cfg.Executable, cfg.UserName = *exe, *runAs
			if *printUnit {
				return printSystemdUnit(env, cfg, *configPath)
			}
		}
		_, used, err := configs.Load(*configPath)
		if err != nil {
			return ConfigError(err)
		}
		// The service runs with the file found now (--config, else the
		// default path if it exists; "" = built-in defaults).
		cfg.ConfigPath = used
		if err := service.Control(cfg, action); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, serviceDone[action])
		return nil
	}
}

// printSystemdUnit is `install --print-unit`: the unit text install would
// write, with configPath as given (else the default path if a file is
// there), on any OS. The .deb's unit is made with it.
func printSystemdUnit(env *cliEnv, cfg service.Config, configPath string) error {
	cfg.ConfigPath = configPath
	if configPath == "" {
		if _, err := os.Stat(configs.DefaultConfigPath()); err == nil {
			cfg.ConfigPath = configs.DefaultConfigPath()
		}
	}
	unit, err := service.SystemdUnit(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	_, err = io.WriteString(env.stdout, unit)
	return err
}

// statusReport is `status --json`.
type statusReport struct {
	Service      string      `json:"service"`
	ServiceError string      `json:"service_error,omitempty"`
	Daemon       *app.Health `json:"daemon"`
	// Forward lists the forwarding destinations, one line each in text.
	Forward []forward.Status `json:"forward"`
}

// cmdStatus prints the service state, then the daemon's health with every
// problem and its fix (SPEC §4.1). It fails (exit 1) on any problem, and
// says whether the daemon is not running or refused the token.
func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "status")
	configPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	var r statusReport
	st, serr := service.Status(service.Config{})
	r.Service = st
	if serr != nil {
		r.ServiceError = serr.Error()
	}
	qctx, cancel := quick(ctx)
	defer cancel()
	h, herr := c.Health(qctx)
	if herr == nil {
		r.Daemon = h
		if fwd, err := c.Forward(qctx); err == nil {
			r.Forward = fwd
		}
	}
	if *asJSON {
		if err := printJSON(env.stdout, r); err != nil {
			return err
		}
		if herr == nil && len(h.Problems) > 0 {
			return fmt.Errorf("%d health problem(s)", len(h.Problems))
		}
		return apiError(herr, addr)
	}
	t := newTable(env.stdout, "WHAT", "STATE")
	svc := r.Service
	if r.ServiceError != "" {
		svc += " (" + r.ServiceError + ")"
	}
	t.row("service", svc)
	if h == nil {
		// One true thing: the row says what the error below says.
		t.row("daemon", daemonState(herr, addr))
		if err := t.flush(); err != nil {
			return err
		}
		return apiError(herr, addr)
	}
	t.row("daemon", fmt.Sprintf("%s (version %s, up %s, local API %s)", h.Status, h.Version, time.Duration(h.UptimeSeconds)*time.Second, addr))
	tunnel := h.Tunnel.Status
	if h.Tunnel.Provider != "none" {
		tunnel += " (" + h.Tunnel.Provider + ")"
	}
	if h.Tunnel.PublicURL != nil {
		tunnel += " " + *h.Tunnel.PublicURL
	}
	if h.Tunnel.Error != nil {
		tunnel += " (last error: " + *h.Tunnel.Error + ")"
	}
	t.row("tunnel", tunnel)
	t.row("receiver", orDash(h.Receiver.Listen))
	t.row("console", "http://"+addr+"/")
	last := "none yet"
	if h.LastDeliveryAt != nil {
		last = when(*h.LastDeliveryAt)
	}
	t.row("last delivery", last)
	if h.Robaws.Configured {
		budget := "not announced yet"
		if h.Robaws.DailyRemaining != nil && h.Robaws.DailyLimit != nil {
			budget = fmt.Sprintf("%d of %d requests left today", *h.Robaws.DailyRemaining, *h.Robaws.DailyLimit)
			if h.Robaws.DailyResetAt != nil {
				budget += ", resets " + when(*h.Robaws.DailyResetAt)
			}
		}
		t.row("robaws budget", budget)
	} else {
		t.row("robaws", "not configured (no credentials)")
	}
	t.row("database", fmt.Sprintf("%s (%s)", h.DB.Path, byteSize(h.DB.SizeBytes)))
	for _, f := range r.Forward {
		t.row("forward "+f.Name, forwardLine(f))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(h.Problems) == 0 {
		return nil
	}
	fmt.Fprintf(env.stdout, "\n%d problem(s):\n", len(h.Problems))
	for _, p := range h.Problems {
		fmt.Fprintf(env.stdout, "  %s: %s\n", p.Code, p.Message)
	}
	return fmt.Errorf("%s: %d health problem(s), listed above", h.Status, len(h.Problems))
}

// daemonState is status's daemon row when the health call failed: not
// answering, refusing the token, or what else went wrong.
func daemonState(err error, addr string) string {
	var ae *app.APIError
	switch {
	case errors.Is(err, app.ErrUnreachable):
		return "not answering on " + addr
	case errors.As(err, &ae) && ae.Code == http.StatusUnauthorized:
		return "running on " + addr + ", but it refused the token (admin.token)"
	case errors.As(err, &ae):
		return fmt.Sprintf("answering on %s with an error (%d)", addr, ae.Code)
	}
	return "no health answer from " + addr
}

// forwardLine is a destination in one line: ok, retrying since …, or
// paused, with what is pending and dead.
func forwardLine(f forward.Status) string {
	state := f.Status
	if f.Status == "retrying" && f.RetryingSince != nil {
		state = "retrying since " + when(*f.RetryingSince)
	}
	line := fmt.Sprintf("%s, %d pending, %d dead (%s to %s)", state, f.Pending, f.Dead, f.Stream, f.Target)
	if f.LastError != nil {
		line += "; last answer: " + *f.LastError
	}
	return line
}

// byteSize renders n bytes for people.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
