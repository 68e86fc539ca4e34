package app

import (
	"log/slog"
	"time"

	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// This file holds the configuration of the two apps: PublicConfig for the
// receiver (NewPublic), LocalConfig for the API and console (NewLocal), each
// with its defaults.

// PublicConfig configures NewPublic.
type PublicConfig struct {
	// MaxBodyBytes caps a delivery's body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int
	// HeaderTimeout bounds reading a request's line and headers: from the
	// connection's start, or from the first byte of a keep-alive
	// connection's next request. Default 5s (receiver.header_timeout).
	HeaderTimeout time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// LocalConfig configures NewLocal. Every field is optional.
type LocalConfig struct {
	// Token, when set, is required on every request as
	// "Authorization: Bearer <token>" (admin.token).
	Token string
	// Version is reported by /api/health.
	Version string
	// ReceiverListen is the receiver's local address (receiver.listen),
	// reported by /api/health; "" when it has none.
	ReceiverListen string
	// Tunnel reports the tunnel's state for /api/health and /metrics. It
	// must be safe for concurrent use. Default: no tunnel (provider "none",
	// status "disabled").
	Tunnel func() TunnelStatus
	// Started is when the daemon started, for uptime_seconds. Default: the
	// time NewLocal is called.
	Started time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Registrar registers webhooks with Robaws; nil when no credentials
	// are configured (those routes then answer 409).
	Registrar *robaws.Registrar
	// Syncer runs customer syncs; nil when no credentials are configured.
	Syncer *robaws.Syncer
	// Robaws is the Robaws API client, for its daily budget; nil when no
	// credentials are configured.
	Robaws *robaws.Client
	// NoPublicURL says Robaws cannot reach this machine: no tunnel
	// (provider auto without an authtoken) and a loopback-only receiver
	// (SPEC §4.1 no_public_url).
	NoPublicURL bool
	// SilenceAfter is health.silence_after: no accepted delivery for that
	// long is a problem; 0 is off.
	SilenceAfter time.Duration
	// RejectedWindow and RejectedMin are health.rejected_window and
	// rejected_min (deliveries_rejected); defaults 15m and 3.
	RejectedWindow time.Duration
	RejectedMin    int
	// Now is the clock of health and stats; tests replace it. Default
	// time.Now.
	Now func() time.Time
	// Forward runs the forwarding destinations (SPEC §8); default none.
	Forward *forward.Forwarder
	// Metrics are the delivery counters /metrics serves; the receiver must
	// report to them (intake.Config.OnDelivery = Metrics.Delivery). Default:
	// a fresh Metrics, which counts no deliveries.
	Metrics *Metrics
	// Hosts are extra Host names the API and console answer to
	// (admin.hosts), besides localhost, IP addresses and this machine's
	// name; any other Host is refused (DNS rebinding), token or not.
	Hosts []string
	// MaxFollowers caps the open log streams (admin.max_followers); one
	// more is answered 503. Default 64.
	MaxFollowers int
	// AuthBurst failed token attempts (bearer or console login) from one
	// client address are looked at, then one per AuthEvery; beyond that the
	// address gets 429 whatever it sends. Defaults 10 and 6 s.
	AuthBurst int
	AuthEvery time.Duration
}

// defaultMaxFollowers is LocalConfig.MaxFollowers' default.
const defaultMaxFollowers = 64

// withDefaults returns cfg with every unset field at its default.
func (cfg LocalConfig) withDefaults(db *store.DB) LocalConfig {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tunnel == nil {
		cfg.Tunnel = func() TunnelStatus { return TunnelStatus{Provider: "none", Status: TunnelDisabled} }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Started.IsZero() {
		cfg.Started = cfg.Now()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Forward == nil {
		cfg.Forward, _ = forward.New(db, forward.Config{}) // no destinations: cannot fail
	}
	if cfg.RejectedWindow <= 0 {
		cfg.RejectedWindow = 15 * time.Minute
	}
	if cfg.RejectedMin <= 0 {
		cfg.RejectedMin = 3
	}
	if cfg.MaxFollowers <= 0 {
		cfg.MaxFollowers = defaultMaxFollowers
	}
	return cfg
}
