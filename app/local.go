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
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	Registrar *Registrar
	// Syncer runs customer syncs; nil when no credentials are configured.
	Syncer *Syncer
}

// NewLocal returns the local JSON API (SPEC §4), served on admin.listen and
// never on the tunnel. The receiver's endpoint paths are not served here,
// just as the public app serves no route of this one.
func NewLocal(db *store.DB, r *Receiver, cfg LocalConfig) *fiber.App {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tunnel == nil {
		cfg.Tunnel = func() TunnelStatus { return TunnelStatus{Provider: "none", Status: TunnelDisabled} }
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
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
	if cfg.Token != "" {
		f.Use(requireToken(cfg.Token))
	}
	h := &handler{db: db, recv: r, cfg: cfg, logger: cfg.Logger}
	metrics := adaptor.HTTPHandler(promhttp.HandlerFor(localGatherer(db, r, cfg.Tunnel), promhttp.HandlerOpts{}))

	f.Get("/api/health", h.handleHealth)
	f.Get("/api/stats", h.handleStats)
	f.Get("/api/webhook-logs", h.handleListEvents)
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
	f.Get("/metrics", func(c *fiber.Ctx) error {
		if _, err := queryParams(c); err != nil {
			return err
		}
		return metrics(c)
	})
	f.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return f
}

// handler serves the local API; each method reads the request, calls a
// plain function and writes the answer.
type handler struct {
	db     *store.DB
	recv   *Receiver
	cfg    LocalConfig
	logger *slog.Logger
}

// errBadToken is the 401 of the local API.
var errBadToken = fiber.NewError(fiber.StatusUnauthorized, "missing or invalid token")

// requireToken checks "Authorization: Bearer <token>" on every request. The
// hashes have equal length, so the comparison takes the same time whatever
// the token's length.
func requireToken(token string) fiber.Handler {
	want := sha256.Sum256([]byte(token))
	return func(c *fiber.Ctx) error {
		scheme, got, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="robaws-edge"`)
			return errBadToken
		}
		return c.Next()
	}
}
