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
)

// health reports the daemon's state from live values: it is "degraded"
// exactly when it lists a problem.
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
	if evs, _, err := db.FindEvents(ctx, store.LogFilter{Limit: 1}); err == nil && len(evs) == 1 {
		last := evs[0].ReceivedAt
		if evs[0].LastDeliveryAt.After(last) {
			last = evs[0].LastDeliveryAt
		}
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

// problems lists what keeps deliveries from arriving or being kept, each
// with what to do (SPEC §4.1).
func problems(ctx context.Context, db *store.DB, r *intake.Receiver, cfg LocalConfig, t TunnelStatus, lastDelivery *time.Time, now time.Time) []Problem {
	ps := []Problem{}
	add := func(code, format string, args ...any) {
		ps = append(ps, Problem{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if err := db.Problem(); err != nil {
		// err names the file, the cause and the one fix (store.DB.Problem).
		add(ProblemStoreUnavailable, "deliveries cannot be stored and are answered 503: %v", err)
	}
	canRegister := cfg.Registrar != nil
	for _, ep := range r.Endpoints() {
		if len(r.ActiveSecrets(ep, now)) == 0 && !(ep.AutoRegister && canRegister) {
			add(ProblemNoActiveSecret, "endpoint %s has no secret, so every delivery to it is refused 401: paste the secret Robaws showed you (robaws-edge webhooks add --endpoint %s --secret …, or the console's Webhooks page), or set robaws credentials so it registers itself", ep.Name, ep.Name)
		}
	}
	if cfg.NoPublicURL {
		add(ProblemNoPublicURL, "there is no tunnel and receiver.listen is on loopback only, so Robaws cannot reach this machine: set NGROK_AUTHTOKEN (tunnel.authtoken), or tunnel.provider: none when a proxy on this machine forwards to receiver.listen")
	}
	if t.Status == TunnelOffline {
		reason := "no error reported yet"
		if t.Error != "" {
			reason = t.Error
		}
		add(ProblemTunnelOffline, "the ngrok tunnel is offline (%s), so Robaws cannot reach this machine: check the internet connection and tunnel.authtoken; robaws-edge keeps reconnecting", reason)
	}
	if canRegister && t.Status == TunnelOnline && t.PublicURL != "" {
		secrets, err := db.FindSecrets(ctx)
		if err == nil {
			for _, ep := range r.Endpoints() {
				want := strings.TrimRight(t.PublicURL, "/") + ep.Path
				if ep.AutoRegister && !registered(secrets, ep.Name, want, now) {
					add(ProblemNotRegistered, "endpoint %s has no active Robaws registration for %s, so Robaws does not send to it: robaws-edge retries on its own; or run robaws-edge webhooks register --endpoint %s", ep.Name, want, ep.Name)
				}
			}
		}
	}
	if cfg.Syncer != nil {
		if p := cfg.Syncer.Progress(); !p.Running && p.Error != "" {
			add(ProblemSyncFailed, "the last customer sync failed (%s): fix the cause and run robaws-edge sync customers", p.Error)
		}
	}
	if cfg.Robaws != nil {
		if err := cfg.Robaws.BudgetLow(); err != nil {
			add(ProblemRobawsBudgetLow, "%v; the office's other integrations share this budget: nothing to do but wait, or lower robaws.daily_reserve", err)
		}
	}
	if cfg.SilenceAfter > 0 {
		since := cfg.Started
		if lastDelivery != nil {
			since = *lastDelivery
		}
		if now.Sub(since) >= cfg.SilenceAfter {
			what := "since robaws-edge started"
			if lastDelivery != nil {
				what = "since " + lastDelivery.UTC().Format(time.RFC3339)
			}
			add(ProblemSilent, "no delivery arrived %s (health.silence_after %s): check the tunnel and the registration at Robaws, or send one with robaws-edge send-test --public", what, cfg.SilenceAfter)
		}
	}
	return ps
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
