package app

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// NewLocal returns the local app, served on admin.listen and never on the
// tunnel: the JSON API (SPEC §4, /api/… and /metrics) and the web console
// (SPEC §7). The receiver's endpoint paths are not served here, just as the
// public app serves no route of this one. This file lists every route of
// both, like miniflux's api.Serve and ui.Serve.
func NewLocal(db *store.DB, r *intake.Receiver, cfg LocalConfig) *fiber.App {
	cfg = cfg.withDefaults(db)
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
	// The pages first: they run their own guard (a same-origin form post
	// carries an Origin header, which the API refuses) and authenticate
	// with a session cookie rather than the bearer header.
	registerConsole(f, newConsole(h))
	f.Use(sameOriginOnly(h.hosts))
	if cfg.Token != "" {
		f.Use(requireToken(cfg.Token, h.throttle))
	}
	registerAPI(f, h)
	// No catch-all: past the last route Fiber answers 405 with an Allow
	// header when the path has a route for another method, else 404, both
	// through errorHandler's JSON.
	return f
}

// registerAPI adds the JSON API's routes (SPEC §4) and /metrics.
func registerAPI(f *fiber.App, h *handler) {
	f.Get("/api/health", h.handleHealth)
	f.Get("/api/stats", h.handleStats)
	f.Get("/api/webhook-logs", h.handleListLogEntries)
	f.Get("/api/webhook-logs/stream", h.handleStreamLogEntries)
	f.Post("/api/webhook-logs/replay", h.handleReplayLogEntries)
	f.Get("/api/webhook-logs/:id", h.handleGetLogEntry)
	f.Post("/api/webhook-logs/:id/replay", h.handleReplayLogEntry)
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
	metrics := adaptor.HTTPHandler(promhttp.HandlerFor(prometheus.Gatherers{
		localGatherer(h.db, h.recv, h.cfg.Metrics, h.cfg.Tunnel, h.cfg.Forward), healthGatherer(h.db, h.recv, h.cfg),
	}, promhttp.HandlerOpts{}))
	f.Get("/metrics", func(c *fiber.Ctx) error {
		if _, err := queryParams(c); err != nil {
			return err
		}
		return metrics(c)
	})
}

// registerConsole adds the console's pages (SPEC §7), each behind the
// console's guard (sameOrigin). The login page and the assets need no
// session; every other page needs one, and every POST its CSRF token too
// (session). A page's error is an HTML page (page).
func registerConsole(f *fiber.App, cs *console) {
	open := cs.sameOrigin
	f.Get("/static/:name", open, cs.handleStatic)
	f.Get("/login", open, cs.page(cs.handleLoginPage))
	f.Post("/login", open, cs.page(cs.handleLogin))

	get := func(p string, fn fiber.Handler) { f.Get(p, cs.sameOrigin, cs.session, cs.page(fn)) }
	post := func(p string, fn fiber.Handler) { f.Post(p, cs.sameOrigin, cs.session, cs.page(fn)) }
	post("/logout", cs.handleLogout)
	get("/", cs.handleOverview)
	get("/deliveries", cs.handleDeliveries)
	get("/deliveries/stream", cs.h.handleStreamLogEntries)
	post("/deliveries/replay", cs.handleReplayAll)
	get("/deliveries/:id", cs.handleDelivery)
	post("/deliveries/:id/replay", cs.handleReplay)
	get("/customers", cs.handleCustomers)
	get("/customers/:id", cs.handleCustomer)
	get("/changes", cs.handleChanges)
	get("/webhooks", cs.handleWebhooks)
	post("/webhooks", cs.handleAddSecret)
	post("/webhooks/register", cs.handleRegister)
	post("/webhooks/:id/deactivate", cs.handleDeactivate)
	get("/sync", cs.handleSync)
	post("/sync", cs.handleStartSync)
	get("/forward", cs.handleForwardList)
	get("/forward/:name", cs.handleForwardDest)
	post("/forward/:name/pause", cs.handleForwardPause(true))
	post("/forward/:name/resume", cs.handleForwardPause(false))
	post("/forward/:name/resend", cs.handleForwardResend)
	post("/forward/:name/test", cs.handleForwardTest)
}
