package app

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
)

// PublicConfig configures NewPublic.
type PublicConfig struct {
	// MaxBodyBytes caps a delivery's body; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int
	// Logger; default discards.
	Logger *slog.Logger
}

// NewPublic returns the public receiver app: one route per configured
// endpoint and nothing else (no admin, no health route), so it is safe to
// serve on the tunnel.
func NewPublic(r *Receiver, cfg PublicConfig) *fiber.App {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := fiber.New(fiber.Config{
		// Immutable makes every value read from the request a copy, so a
		// body handed to the store can never be overwritten by the next
		// request on the same connection.
		Immutable:             true,
		BodyLimit:             cfg.MaxBodyBytes,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(cfg.Logger),
		// Only the configured paths exactly: no case folding, no trailing
		// slash variants (SPEC §1: unknown paths 404).
		StrictRouting: true,
		CaseSensitive: true,
	})
	f.Use(recover.New())
	h := &publicHandler{recv: r}
	for _, ep := range r.Endpoints() {
		f.All(ep.Path, h.handleWebhook(ep))
	}
	f.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
	return f
}

type publicHandler struct {
	recv *Receiver
}

// handleWebhook answers one delivery to ep (SPEC §1).
func (h *publicHandler) handleWebhook(ep *Endpoint) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodPost {
			c.Set(fiber.HeaderAllow, fiber.MethodPost)
			return fiber.ErrMethodNotAllowed
		}
		received := h.recv.Now()
		a, err := h.recv.Receive(c.UserContext(), Incoming{
			Endpoint:        ep,
			Body:            c.BodyRaw(),
			SignatureHeader: c.Get("Robaws-Signature"),
			RemoteAddr:      c.IP(),
			ReceivedAt:      received,
		})
		if err != nil {
			return err
		}
		return c.Status(a.Code).JSON(a)
	}
}
