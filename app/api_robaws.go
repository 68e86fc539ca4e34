package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/robaws"
)

// RegisterWebhookRequest is the body of POST /api/webhooks/register.
type RegisterWebhookRequest struct {
	Endpoint string `json:"endpoint"`
	// URL defaults to the tunnel's public URL + the endpoint's path.
	URL string `json:"url,omitempty"`
	// Force registers even when the endpoint already has an active
	// registration.
	Force bool `json:"force,omitempty"`
}

// SyncRequest is the body of POST /api/sync/customers.
type SyncRequest struct {
	// Since, when set, makes the sync incremental (updatedFrom).
	Since *time.Time `json:"since,omitempty"`
}

// NoPublicURLMessage is the 409 answer of POST /api/webhooks/register when
// the registration needs the tunnel's URL and there is none; the CLI tells
// its user about --url instead.
const NoPublicURLMessage = `no public URL: the tunnel is not online; set "url" to the URL Robaws should call`

var errNoPublicURL = fiber.NewError(fiber.StatusConflict, NoPublicURLMessage)

// handleRegisterWebhook answers POST /api/webhooks/register with 201 and
// the new registration (its secret stored, never shown).
func (h *handler) handleRegisterWebhook(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	var req RegisterWebhookRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	w, err := registerWebhook(c.UserContext(), h, req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(w)
}

func registerWebhook(ctx context.Context, h *handler, req RegisterWebhookRequest) (*Webhook, error) {
	if req.Endpoint == "" {
		return nil, badRequest("invalid endpoint: required")
	}
	ep, err := h.recv.Endpoint(req.Endpoint)
	if err != nil {
		return nil, badRequest("invalid endpoint: %v", err)
	}
	if h.cfg.Registrar == nil {
		return nil, robaws.ErrNoCredentials
	}
	url := strings.TrimSpace(req.URL)
	if url == "" {
		ts := h.cfg.Tunnel()
		if ts.Status != TunnelOnline || ts.PublicURL == "" {
			return nil, errNoPublicURL
		}
		url = strings.TrimSuffix(ts.PublicURL, "/") + ep.Path
	}
	s, err := h.cfg.Registrar.Register(ctx, ep.Name, url, req.Force)
	if err != nil {
		return nil, err
	}
	return storedWebhook(h.recv, s, h.recv.Now()), nil
}

// deleteRemote deactivates a registration locally and deletes it at Robaws.
func deleteRemote(ctx context.Context, h *handler, id string) (*Webhook, error) {
	if strings.HasPrefix(id, "config:") {
		return nil, badRequest("invalid id: %s is a config secret; remove it from the endpoint's secrets in the config file", id)
	}
	// What is wrong with the id comes first: an unknown one is 404, and one
	// never registered at Robaws has nothing to delete there, whether or
	// not credentials are set.
	s, err := h.db.FindSecretByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.WebhookID == "" {
		return nil, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("secret %s has no Robaws webhook id, so there is nothing to delete at Robaws: deactivate it here only (without remote)", s.ID))
	}
	if h.cfg.Registrar == nil {
		return nil, robaws.ErrNoCredentials
	}
	if err := h.cfg.Registrar.DeleteRemote(ctx, id); err != nil {
		return nil, err
	}
	if s, err = h.db.FindSecretByID(ctx, id); err != nil {
		return nil, err
	}
	return storedWebhook(h.recv, s, h.recv.Now()), nil
}

// handleStartSync answers POST /api/sync/customers with 202 and the
// progress; 409 when a sync runs already.
func (h *handler) handleStartSync(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	var req SyncRequest
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	if h.cfg.Syncer == nil {
		return robaws.ErrNoCredentials
	}
	var since time.Time
	if req.Since != nil {
		since = *req.Since
	}
	if err := h.cfg.Syncer.Start(since); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(h.cfg.Syncer.Progress())
}

// handleGetSync answers GET /api/sync.
func (h *handler) handleGetSync(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if h.cfg.Syncer == nil {
		return c.JSON(robaws.SyncProgress{})
	}
	return c.JSON(h.cfg.Syncer.Progress())
}

// robawsStatus maps the Robaws errors for the error handler.
func robawsStatus(err error) (int, string, bool) {
	var re *robaws.Error
	switch {
	case errors.As(err, &re):
		return fiber.StatusBadGateway, re.Error(), true
	case errors.Is(err, robaws.ErrUnreachable) && !errors.Is(err, context.Canceled):
		return fiber.StatusBadGateway, err.Error(), true
	case errors.Is(err, robaws.ErrNoCredentials):
		return fiber.StatusConflict, robaws.ErrNoCredentials.Error(), true
	case errors.Is(err, robaws.ErrInvalidURL):
		return fiber.StatusBadRequest, "invalid url: " + robaws.ErrInvalidURL.Error(), true
	case errors.Is(err, robaws.ErrUnknownEndpoint):
		return fiber.StatusBadRequest, err.Error(), true
	}
	return 0, "", false
}
