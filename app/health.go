package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// Health problem codes (SPEC §4.1).
const (
	ProblemNoActiveSecret   = "no_active_secret"
	ProblemNoPublicURL      = "no_public_url"
	ProblemTunnelOffline    = "tunnel_offline"
	ProblemNotRegistered    = "not_registered"
	ProblemStoreUnavailable = "store_unavailable"
	ProblemSyncFailed       = "sync_failed"
	ProblemRobawsBudgetLow  = "robaws_budget_low"
	ProblemSilent           = "silent"
	ProblemRejected         = "deliveries_rejected"
	ProblemForwardBehind    = "forward_behind"
	ProblemForwardDead      = "forward_dead"
)

// health reports the daemon's state from live values: it is "degraded"
// exactly when it lists a problem. A store read that fails is shown as
// store_unavailable when the store says so, else logged (healthReadFailed);
// the check it fed is then left out rather than guessed.
func health(ctx context.Context, db *store.DB, r *intake.Receiver, cfg LocalConfig, now time.Time) Health {
	t := cfg.Tunnel()
	out := Health{
		Status:        "ok",
		Version:       cfg.Version,
		UptimeSeconds: int64(now.Sub(cfg.Started).Seconds()),
		Tunnel:        HealthTunnel{Provider: t.Provider, Status: t.Status, PublicURL: optional(t.PublicURL), Error: optional(t.Error)},
		Receiver:      HealthReceiver{Listen: optional(cfg.ReceiverListen)},
		Robaws:        HealthRobaws{Configured: cfg.Robaws != nil},
		DB:            HealthDB{Path: db.Path(), SizeBytes: db.Size()},
	}
	// Only an accepted delivery is a delivery here: a wrong secret's
	// rejections must not make the silent check think Robaws gets through.
	if last, ok, err := db.LastAccepted(ctx); err != nil {
		healthReadFailed(ctx, db, cfg, "last delivery", err)
	} else if ok {
		out.LastDeliveryAt = &last
	}
	if c := cfg.Robaws; c != nil {
		if b, ok := c.Budget(c.SyncMode()); ok {
			out.Robaws.DailyLimit, out.Robaws.DailyRemaining = &b.DailyLimit, &b.DailyRemaining
			if !b.DailyResetAt.IsZero() {
				out.Robaws.DailyResetAt = &b.DailyResetAt
			}
		}
		out.Robaws.LastError = optional(c.LastError())
	}
	out.Problems = problems(ctx, db, r, cfg, t, out.LastDeliveryAt, now)
	if len(out.Problems) > 0 {
		out.Status = "degraded"
	}
	return out
}

// healthReadFailed handles a failed store read of the health check once:
// a store that fails is store_unavailable already, and a request gone
// away reads nothing; anything else is logged.
func healthReadFailed(ctx context.Context, db *store.DB, cfg LocalConfig, what string, err error) {
	if ctx.Err() != nil || db.Problem() != nil {
		return
	}
	cfg.Logger.Error("health check incomplete", "check", what, "error", err)
}

// problem is one Problem; its message is format with args.
func problem(code, format string, args ...any) Problem {
	return Problem{Code: code, Message: fmt.Sprintf(format, args...)}
}

// problems lists what keeps deliveries from arriving or being kept, each
// with what to do (SPEC §4.1), in a fixed order of codes.
func problems(ctx context.Context, db *store.DB, r *intake.Receiver, cfg LocalConfig, t TunnelStatus, lastDelivery *time.Time, now time.Time) []Problem {
	ps := []Problem{}
	if err := db.Problem(); err != nil {
		// err names the file, the cause and the one fix (store.DB.Problem).
		ps = append(ps, problem(ProblemStoreUnavailable, "deliveries cannot be stored and are answered 503: %v", err))
	}
	ps = append(ps, secretProblems(r, cfg, t, now)...)
	ps = append(ps, reachProblems(cfg, t)...)
	ps = append(ps, registrationProblems(ctx, db, r, cfg, t, now)...)
	ps = append(ps, robawsProblems(cfg)...)
	ps = append(ps, rejectedProblems(r, cfg, now)...)
	if p, ok := silentProblem(cfg, lastDelivery, now); ok {
		ps = append(ps, p)
	}
	return append(ps, forwardProblems(cfg, now)...)
}

// secretProblems: an endpoint without an active secret refuses everything,
// unless robaws-edge can register it (credentials and a public URL).
func secretProblems(r *intake.Receiver, cfg LocalConfig, t TunnelStatus, now time.Time) []Problem {
	var ps []Problem
	canRegister := cfg.Registrar != nil
	for _, ep := range r.Endpoints() {
		if len(r.ActiveSecrets(ep, now)) > 0 {
			continue
		}
		switch {
		case !(ep.AutoRegister && canRegister):
			ps = append(ps, problem(ProblemNoActiveSecret, "endpoint %s has no secret, so every delivery to it is refused 401: paste the secret Robaws showed you (robaws-edge webhooks add --endpoint %s --secret …, or the console's Webhooks page), or set robaws credentials so it registers itself", ep.Name, ep.Name))
		case t.Status != TunnelOnline:
			ps = append(ps, problem(ProblemNoActiveSecret, "endpoint %s has no secret, so every delivery to it is refused 401; robaws-edge would register it with Robaws, but it has no public URL (%s): %s, or register it by hand (robaws-edge webhooks register --endpoint %s --url <public URL>) or paste a secret (robaws-edge webhooks add --endpoint %s --secret …)",
				ep.Name, noURLReason(t), noURLFix(t), ep.Name, ep.Name))
		}
	}
	return ps
}

// reachProblems: Robaws cannot reach this machine.
func reachProblems(cfg LocalConfig, t TunnelStatus) []Problem {
	var ps []Problem
	if cfg.NoPublicURL {
		ps = append(ps, problem(ProblemNoPublicURL, "there is no tunnel and receiver.listen is on loopback only, so Robaws cannot reach this machine: set NGROK_AUTHTOKEN (tunnel.authtoken), or tunnel.provider: none when a proxy on this machine forwards to receiver.listen"))
	}
	if t.Status == TunnelOffline {
		reason := "connecting, no answer from ngrok yet"
		if t.Error != "" {
			reason = t.Error
		}
		ps = append(ps, problem(ProblemTunnelOffline, "the ngrok tunnel is offline (%s), so Robaws cannot reach this machine: check the internet connection and tunnel.authtoken; robaws-edge keeps reconnecting", reason))
	}
	return ps
}

// registrationProblems: with credentials and the tunnel online, an
// auto_register endpoint without an active registration for the tunnel's
// URL gets nothing from Robaws.
func registrationProblems(ctx context.Context, db *store.DB, r *intake.Receiver, cfg LocalConfig, t TunnelStatus, now time.Time) []Problem {
	if cfg.Registrar == nil || t.Status != TunnelOnline || t.PublicURL == "" {
		return nil
	}
	secrets, err := db.FindSecrets(ctx)
	if err != nil {
		healthReadFailed(ctx, db, cfg, "registrations", err)
		return nil
	}
	var ps []Problem
	for _, ep := range r.Endpoints() {
		want := strings.TrimRight(t.PublicURL, "/") + ep.Path
		if ep.AutoRegister && !registered(secrets, ep.Name, want, now) {
			ps = append(ps, problem(ProblemNotRegistered, "endpoint %s has no active Robaws registration for %s, so Robaws does not send to it: robaws-edge retries on its own; or run robaws-edge webhooks register --endpoint %s", ep.Name, want, ep.Name))
		}
	}
	return ps
}

// robawsProblems: the last sync failed, or Robaws' daily budget runs low.
func robawsProblems(cfg LocalConfig) []Problem {
	var ps []Problem
	if cfg.Syncer != nil {
		if p := cfg.Syncer.Progress(); !p.Running && p.Error != "" {
			ps = append(ps, problem(ProblemSyncFailed, "the last customer sync failed (%s): fix the cause and run robaws-edge sync customers", p.Error))
		}
	}
	if cfg.Robaws != nil {
		if err := cfg.Robaws.BudgetLow(); err != nil {
			ps = append(ps, problem(ProblemRobawsBudgetLow, "%v; the office's other integrations share this budget: nothing to do but wait, or lower robaws.daily_reserve", err))
		}
	}
	return ps
}

// rejectedProblems: an endpoint that rejected every signed delivery of the
// window, at least RejectedMin of them.
func rejectedProblems(r *intake.Receiver, cfg LocalConfig, now time.Time) []Problem {
	var ps []Problem
	for _, ep := range r.Endpoints() {
		n, reason := r.Rejections(ep.Name, now, cfg.RejectedWindow)
		if n >= cfg.RejectedMin {
			ps = append(ps, problem(ProblemRejected, "endpoint %s rejected all %s signed deliveries of the last %s (%s), so Robaws is being turned away: %s; robaws-edge replay --status rejected then processes them",
				ep.Name, atLeast(n), cfg.RejectedWindow, reason, rejectedFix(reason, ep.Name)))
		}
	}
	return ps
}

// silentProblem: no delivery accepted for health.silence_after.
func silentProblem(cfg LocalConfig, lastDelivery *time.Time, now time.Time) (Problem, bool) {
	if cfg.SilenceAfter <= 0 {
		return Problem{}, false
	}
	since, what := cfg.Started, "since robaws-edge started"
	if lastDelivery != nil {
		since, what = *lastDelivery, "since "+lastDelivery.UTC().Format(time.RFC3339)
	}
	if now.Sub(since) < cfg.SilenceAfter {
		return Problem{}, false
	}
	return problem(ProblemSilent, "no delivery was accepted %s (health.silence_after %s): check the tunnel, the registration at Robaws and its secret, or send one with robaws-edge send-test --public", what, cfg.SilenceAfter), true
}

// forwardProblems: a destination that is not paused and holds an item older
// than its alert_after is behind; one with dead items needs its admin
// (SPEC §8).
func forwardProblems(cfg LocalConfig, now time.Time) []Problem {
	var ps []Problem
	for _, s := range cfg.Forward.Statuses() {
		alert := time.Duration(s.AlertAfter * float64(time.Second))
		if s.Status != "paused" && s.OldestPendingAt != nil && now.Sub(*s.OldestPendingAt) >= alert {
			answer := "no answer yet"
			if s.LastError != nil {
				answer = *s.LastError
			}
			ps = append(ps, Problem{Code: ProblemForwardBehind, Message: fmt.Sprintf(
				"forward destination %s is behind: %d item(s) waiting, the oldest since %s; its last answer: %s: fix the target %s, then resume it (the console's Forwarding page, or robaws-edge forward resume %s)",
				s.Name, s.Pending, s.OldestPendingAt.UTC().Format(time.RFC3339), answer, s.Target, s.Name)})
		}
		if s.Dead > 0 {
			ps = append(ps, Problem{Code: ProblemForwardDead, Message: fmt.Sprintf(
				"forward destination %s set %d item(s) aside as dead (its target refused them): see why on the console's Forwarding page (or robaws-edge forward dead %s), fix the target, then resend them (robaws-edge forward resend %s --dead)",
				s.Name, s.Dead, s.Name, s.Name)})
		}
	}
	return ps
}

// noURLReason says why the tunnel gives no public URL.
func noURLReason(t TunnelStatus) string {
	switch {
	case t.Status == TunnelDisabled:
		return "no tunnel is configured"
	case t.Error != "":
		return "the tunnel is offline: " + t.Error
	}
	return "the tunnel is not online yet"
}

func noURLFix(t TunnelStatus) string {
	if t.Status == TunnelDisabled {
		return "set NGROK_AUTHTOKEN (tunnel.authtoken) so it gets one"
	}
	return "robaws-edge registers it once the tunnel is online"
}

// rejectedFix is the fix for deliveries rejected for reason.
func rejectedFix(reason, endpoint string) string {
	switch reason {
	case intake.ErrTimestamp.Error():
		return "the clock of this machine (or Robaws') is off by more than receiver.signature_tolerance: set it right (NTP: timedatectl set-ntp true, or Windows' Internet time)"
	case intake.ErrNoActiveSecret.Error():
		return fmt.Sprintf("give endpoint %s its secret (robaws-edge webhooks add --endpoint %s --secret -, or the console's Webhooks page)", endpoint, endpoint)
	}
	return fmt.Sprintf("Robaws signs with a secret robaws-edge does not have: paste the current one from Robaws (robaws-edge webhooks add --endpoint %s --secret -, or the console's Webhooks page)", endpoint)
}

// atLeast is n, or "the 256+" when the count may be more than was kept.
func atLeast(n int) string {
	if n >= intake.KeptRejections {
		return fmt.Sprintf("%d+", n)
	}
	return fmt.Sprint(n)
}

// registered reports whether endpoint has an active registration for url.
func registered(secrets []*store.Secret, endpoint, url string, now time.Time) bool {
	for _, s := range secrets {
		if s.Endpoint == endpoint && s.Active && s.URL == url && s.WebhookID != "" && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)) {
			return true
		}
	}
	return false
}
