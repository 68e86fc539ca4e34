package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// TunnelStatus is what LocalConfig.Tunnel reports about the tunnel.
type TunnelStatus struct {
	// Provider is "ngrok", or "none" when no tunnel is configured.
	Provider string
	// Status is TunnelOnline, TunnelOffline or TunnelDisabled.
	Status string
	// PublicURL is the tunnel's URL while online, else "".
	PublicURL string
	// Error is the tunnel's last error, redacted; "" when none.
	Error string
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

// NewLocal returns the local JSON API (SPEC §4), served on admin.listen and
// never on the tunnel. The receiver's endpoint paths are not served here,
// just as the public app serves no route of this one.
func NewLocal(db *store.DB, r *intake.Receiver, cfg LocalConfig) *fiber.App {
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
	f := fiber.New(fiber.Config{
		Immutable:   true,
		BodyLimit:   1 << 20,
		ReadTimeout: 10 * time.Second,
		// A backup streams the whole file in one response; this bounds how
		// long a stalled reader can hold its snapshot open.
		WriteTimeout:          10 * time.Minute,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(cfg.Logger),
	})
	f.Use(recover.New())
	h := &handler{db: db, recv: r, cfg: cfg, logger: cfg.Logger, hosts: newHostGuard(cfg.Hosts),
		throttle: newAuthThrottle(cfg.AuthBurst, cfg.AuthEvery, cfg.Logger), hub: newStreamHub(db, cfg.MaxFollowers)}
	f.Hooks().OnShutdown(func() error { h.hub.close(); return nil })
	registerConsole(f, h) // pages: their own guard, before the API's
	f.Use(h.sameOriginOnly)
	if cfg.Token != "" {
		f.Use(requireToken(cfg.Token, h.throttle))
	}
	metrics := adaptor.HTTPHandler(promhttp.HandlerFor(prometheus.Gatherers{localGatherer(db, r, cfg.Metrics, cfg.Tunnel, cfg.Forward), healthGatherer(db, r, cfg)}, promhttp.HandlerOpts{}))

	f.Get("/api/health", h.handleHealth)
	f.Get("/api/stats", h.handleStats)
	f.Get("/api/webhook-logs", h.handleListEvents)
	f.Get("/api/webhook-logs/stream", h.handleStreamEvents)
	f.Post("/api/webhook-logs/replay", h.handleReplayEvents)
	f.Get("/api/webhook-logs/:id", h.handleGetEvent)
	f.Post("/api/webhook-logs/:id/replay", h.handleReplayEvent)
	f.Get("/api/customers", h.handleListCustomers)
	f.Get("/api/customers/:id", h.handleGetCustomer)
	f.Get("/api/customers/:id/history", h.handleCustomerHistory)
	f.Get("/api/changes", h.handleListChanges)
	f.Get("/api/webhooks", h.handleListWebhooks)
	f.Post("/api/webhooks", h.handleCreateWebhook)
	f.Post("/api/webhooks/register", h.handleRegisterWebhook)
	f.Delete("/api/webhooks/:id", h.handleDeleteWebhook)
	f.Post("/api/sync/customers", h.handleStartSync)
	f.Get("/api/sync", h.handleGetSync)
	f.Get("/api/backup", h.handleBackup)
	f.Get("/api/forward", h.handleListForward)
	f.Get("/api/forward/:name/attempts", h.handleForwardAttempts)
	f.Get("/api/forward/:name/dead", h.handleForwardDead)
	f.Post("/api/forward/:name/pause", h.handleForwardPause(true))
	f.Post("/api/forward/:name/resume", h.handleForwardPause(false))
	f.Post("/api/forward/:name/resend", h.handleForwardResend)
	f.Post("/api/forward/:name/test", h.handleForwardTest)
	f.Get("/metrics", func(c *fiber.Ctx) error {
		if _, err := queryParams(c); err != nil {
			return err
		}
		return metrics(c)
	})
	// No catch-all: past the last route Fiber answers 405 with an Allow
	// header when the path has a route for another method, else 404, both
	// through errorHandler's JSON.
	return f
}

// handler serves the local API; each method reads the request, calls a
// plain function and writes the answer.
type handler struct {
	db     *store.DB
	recv   *intake.Receiver
	cfg    LocalConfig
	logger *slog.Logger
	// hosts, throttle and hub are shared by the API and the console.
	hosts    hostGuard
	throttle *authThrottle
	hub      *streamHub
}

// errCrossOrigin is answered to requests a web page made (CSRF) and to
// requests for a host name that is not this daemon's (DNS rebinding).
var errCrossOrigin = fiber.NewError(fiber.StatusForbidden, "cross-origin requests are not allowed")

// sameOriginOnly keeps web pages open in the office PC's browser away from
// the local API. Browsers send Origin (or Sec-Fetch-Site) on every
// cross-origin write; the CLI and scripts send neither. A Host that is not
// this daemon's (hostGuard) is refused too, token or not, which defeats DNS
// rebinding (a page's own host name resolving to this machine): with a
// token, such a page could otherwise guess it from the admin's browser.
func (h *handler) sameOriginOnly(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderOrigin) != "" || c.Get("Sec-Fetch-Site") == "cross-site" || c.Get("Sec-Fetch-Site") == "same-site" {
		return errCrossOrigin
	}
	// The raw Host header, never c.Hostname(): Fiber takes that from
	// X-Forwarded-Host, which the rebinding page sets at will.
	if !h.hosts.allows(string(c.Request().Header.Host())) {
		return errCrossOrigin
	}
	return c.Next()
}

// errBadToken is the 401 of the local API.
var errBadToken = fiber.NewError(fiber.StatusUnauthorized, "missing or invalid token")

// requireToken checks "Authorization: Bearer <token>" on every request. The
// hashes have equal length, so the comparison takes the same time whatever
// the token's length. A throttled address is refused before its token is
// looked at; a request without the header guesses nothing and spends
// nothing of the address's budget.
func requireToken(token string, th *authThrottle) fiber.Handler {
	want := sha256.Sum256([]byte(token))
	return func(c *fiber.Ctx) error {
		ip := c.Context().RemoteIP()
		if wait := th.wait(ip); wait > 0 {
			return errTooManyAttempts(c, wait)
		}
		header := c.Get(fiber.HeaderAuthorization)
		scheme, got, ok := strings.Cut(header, " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			if header != "" {
				if wait := th.failed(ip); wait > 0 {
					return errTooManyAttempts(c, wait)
				}
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="robaws-edge"`)
			return errBadToken
		}
		return c.Next()
	}
}
