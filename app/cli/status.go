package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/service"
)

// `robaws-edge status`: the service state, then the daemon's health with
// every problem and its fix (SPEC §4.1).

// statusReport is `status --json`.
type statusReport struct {
	Service      string      `json:"service"`
	ServiceError string      `json:"service_error,omitempty"`
	Daemon       *app.Health `json:"daemon"`
	// Forward lists the forwarding destinations, one line each in text.
	Forward []forward.Status `json:"forward"`
}

// cmdStatus prints the status report. It fails (exit 1) on any problem, and
// says whether the daemon is not running or refused the token.
func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "status")
	configPath := configFlag(fs)
	asJSON := jsonFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	r, herr := gatherStatus(ctx, c)
	if *asJSON {
		if err := printJSON(env.stdout, r); err != nil {
			return err
		}
		if herr == nil && len(r.Daemon.Problems) > 0 {
			return fmt.Errorf("%d health problem(s)", len(r.Daemon.Problems))
		}
		return apiError(herr, addr)
	}
	t := newTable(env.stdout, "WHAT", "STATE")
	svc := r.Service
	if r.ServiceError != "" {
		svc += " (" + r.ServiceError + ")"
	}
	t.row("service", svc)
	if r.Daemon == nil {
		// One true thing: the row says what the error below says.
		t.row("daemon", daemonState(herr, addr))
		if err := t.flush(); err != nil {
			return err
		}
		return apiError(herr, addr)
	}
	statusRows(t, r, addr)
	if err := t.flush(); err != nil {
		return err
	}
	return printProblems(env, r.Daemon)
}

// gatherStatus asks the service manager and the daemon. The daemon's
// health error is returned apart: the report is printed either way.
func gatherStatus(ctx context.Context, c *app.Client) (statusReport, error) {
	var r statusReport
	st, serr := service.Status(service.Config{})
	r.Service = st
	if serr != nil {
		r.ServiceError = serr.Error()
	}
	qctx, cancel := quick(ctx)
	defer cancel()
	h, herr := c.Health(qctx)
	if herr != nil {
		return r, herr
	}
	r.Daemon = h
	if fwd, err := c.Forward(qctx); err == nil {
		r.Forward = fwd
	}
	return r, nil
}

// statusRows adds the rows of a daemon that answered.
func statusRows(t *table, r statusReport, addr string) {
	h := r.Daemon
	t.row("daemon", fmt.Sprintf("%s (version %s, up %s, local API %s)", h.Status, h.Version, time.Duration(h.UptimeSeconds)*time.Second, addr))
	t.row("tunnel", tunnelLine(h.Tunnel))
	t.row("receiver", orDash(h.Receiver.Listen))
	t.row("console", "http://"+addr+"/")
	last := "none yet"
	if h.LastDeliveryAt != nil {
		last = when(*h.LastDeliveryAt)
	}
	t.row("last delivery", last)
	if h.Robaws.Configured {
		t.row("robaws budget", budgetLine(h.Robaws))
	} else {
		t.row("robaws", "not configured (no credentials)")
	}
	t.row("database", fmt.Sprintf("%s (%s)", h.DB.Path, byteSize(h.DB.SizeBytes)))
	for _, f := range r.Forward {
		t.row("forward "+f.Name, forwardLine(f))
	}
}

// printProblems lists the daemon's health problems, each with its fix,
// and fails (exit 1) when there is one.
func printProblems(env *cliEnv, h *app.Health) error {
	if len(h.Problems) == 0 {
		return nil
	}
	fmt.Fprintf(env.stdout, "\n%d problem(s):\n", len(h.Problems))
	for _, p := range h.Problems {
		fmt.Fprintf(env.stdout, "  %s: %s\n", p.Code, p.Message)
	}
	return fmt.Errorf("%s: %d health problem(s), listed above", h.Status, len(h.Problems))
}

// tunnelLine is the tunnel in one line: state, provider, public URL and
// last error.
func tunnelLine(ts app.HealthTunnel) string {
	line := ts.Status
	if ts.Provider != "none" {
		line += " (" + ts.Provider + ")"
	}
	if ts.PublicURL != nil {
		line += " " + *ts.PublicURL
	}
	if ts.Error != nil {
		line += " (last error: " + *ts.Error + ")"
	}
	return line
}

// budgetLine is what is left of Robaws' daily request budget.
func budgetLine(r app.HealthRobaws) string {
	if r.DailyRemaining == nil || r.DailyLimit == nil {
		return "not announced yet"
	}
	line := fmt.Sprintf("%d of %d requests left today", *r.DailyRemaining, *r.DailyLimit)
	if r.DailyResetAt != nil {
		line += ", resets " + when(*r.DailyResetAt)
	}
	return line
}

// daemonState is status's daemon row when the health call failed: not
// answering, refusing the token, or what else went wrong.
func daemonState(err error, addr string) string {
	var ae *app.APIError
	switch {
	case errors.Is(err, app.ErrNotAnswering):
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
