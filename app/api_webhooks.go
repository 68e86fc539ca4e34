package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleListWebhooks answers GET /api/webhooks.
func (h *handler) handleListWebhooks(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	list, err := listWebhooks(c.UserContext(), h.db, h.recv)
	if err != nil {
		return err
	}
	return c.JSON(Page[*Webhook]{Items: nonNil(list)})
}

// handleCreateWebhook answers POST /api/webhooks with 201 and the new item.
func (h *handler) handleCreateWebhook(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	var req CreateWebhookRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	w, err := createWebhook(c.UserContext(), h.db, h.recv, req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(w)
}

// handleDeleteWebhook answers DELETE /api/webhooks/{id}.
func (h *handler) handleDeleteWebhook(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := queryParams(c, "remote", "purge")
	if err != nil {
		return err
	}
	remote, err := p.bool("remote")
	if err != nil {
		return err
	}
	purge, err := p.flag("purge")
	if err != nil {
		return err
	}
	var w *Webhook
	switch {
	case remote != nil && *remote:
		w, err = deleteRemote(c.UserContext(), h, id)
	case purge:
		w, err = purgeWebhook(c.UserContext(), h.db, h.recv, id)
	default:
		w, err = deactivateWebhook(c.UserContext(), h.db, h.recv, id)
	}
	if err != nil {
		return err
	}
	return c.JSON(w)
}

// listWebhooks returns the config secrets of every endpoint, then the
// stored secrets oldest first, inactive ones included.
func listWebhooks(ctx context.Context, db *store.DB, r *intake.Receiver) ([]*Webhook, error) {
	var out []*Webhook
	for _, ep := range r.Endpoints() {
		for i, v := range ep.Secrets {
			out = append(out, &Webhook{
				ID: configSecretID(ep.Name, i), Endpoint: ep.Name, Events: nonNil(ep.Events),
				Active: true, Source: SourceConfig, AddedBy: optional(AddedByConfig), SecretHint: (&store.Secret{Value: v}).Hint(),
			})
		}
	}
	stored, err := db.FindSecrets(ctx)
	if err != nil {
		return nil, err
	}
	now := r.Now()
	for _, s := range stored {
		out = append(out, storedWebhook(r, s, now))
	}
	return out, nil
}

// configSecretID names the i-th (0-based) config secret of an endpoint, as
// the receiver records it on log entries.
func configSecretID(endpoint string, i int) string { return fmt.Sprintf("config:%s#%d", endpoint, i+1) }

// storedWebhook is the list item of stored secret s.
func storedWebhook(r *intake.Receiver, s *store.Secret, now time.Time) *Webhook {
	w := &Webhook{
		ID: s.ID, Endpoint: s.Endpoint, WebhookID: optional(s.WebhookID), URL: optional(s.URL),
		Events: s.Events, Active: s.Active && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)),
		Source: SourceRegistered, AddedBy: optional(s.AddedBy), SecretHint: s.Hint(),
	}
	if w.Events == nil {
		if ep, err := r.Endpoint(s.Endpoint); err == nil {
			w.Events = ep.Events
		}
	}
	w.Events = nonNil(w.Events)
	if !s.CreatedAt.IsZero() {
		t := s.CreatedAt.UTC()
		w.CreatedAt = &t
	}
	if !s.ExpiresAt.IsZero() {
		t := s.ExpiresAt.UTC()
		w.ExpiresAt = &t
	}
	return w
}

// MinSecretLen is the shortest secret POST /api/webhooks accepts: a short
// one is guessable, and Robaws' own are 36-character UUIDs.
const MinSecretLen = 16

// createWebhook stores a known secret for an endpoint and makes the
// receiver use it at once. A secret the endpoint already has (in the config
// or stored and active) is a conflict.
func createWebhook(ctx context.Context, db *store.DB, r *intake.Receiver, req CreateWebhookRequest) (*Webhook, error) {
	req.Secret = strings.TrimSpace(req.Secret)
	if req.Endpoint == "" {
		return nil, badRequest("invalid endpoint: required")
	}
	ep, err := r.Endpoint(req.Endpoint)
	if err != nil {
		return nil, badRequest("invalid endpoint: %v", err)
	}
	if req.Secret == "" {
		return nil, badRequest("invalid secret: required")
	}
	for i, v := range ep.Secrets {
		if v == req.Secret {
			return nil, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("secret is already in the config file as %s", configSecretID(ep.Name, i)))
		}
	}
	if len(req.Secret) < MinSecretLen {
		// Never echo the value: only its length is safe to name.
		return nil, badRequest("invalid secret: %d characters, want at least %d (Robaws' secrets are UUIDs)", len(req.Secret), MinSecretLen)
	}
	s := &store.Secret{Endpoint: ep.Name, WebhookID: req.WebhookID, URL: req.URL, Events: ep.Events, Value: req.Secret, AddedBy: store.AddedByHand}
	if err := db.CreateSecret(ctx, s); err != nil {
		return nil, err
	}
	if err := r.ReloadSecrets(ctx); err != nil {
		return nil, err
	}
	return storedWebhook(r, s, r.Now()), nil
}

// purgeWebhook deactivates stored secret id and then removes it (send-test
// cleans up its temporary secret so): it no longer shows in the list.
func purgeWebhook(ctx context.Context, db *store.DB, r *intake.Receiver, id string) (*Webhook, error) {
	w, err := deactivateWebhook(ctx, db, r, id)
	if err != nil {
		return nil, err
	}
	return w, db.DeleteSecret(ctx, id)
}

// deactivateWebhook stops a stored secret from verifying deliveries; it
// stays listed as inactive. Config secrets live in the file and cannot be
// deactivated here. Returns store.ErrNotFound for an unknown id.
func deactivateWebhook(ctx context.Context, db *store.DB, r *intake.Receiver, id string) (*Webhook, error) {
	if strings.HasPrefix(id, "config:") {
		return nil, badRequest("invalid id: %s is a config secret; remove it from the endpoint's secrets in the config file", id)
	}
	s, err := db.FindSecretByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Active {
		s.Active = false
		if err := db.UpdateSecret(ctx, s); err != nil {
			return nil, err
		}
		if err := r.ReloadSecrets(ctx); err != nil {
			return nil, err
		}
	}
	return storedWebhook(r, s, r.Now()), nil
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

// registerWebhook registers endpoint req.Endpoint with Robaws at req.URL,
// by default the tunnel's public URL + the endpoint's path, and stores the
// secret Robaws answers. Without credentials it returns
// robaws.ErrNoCredentials; without a URL, a conflict.
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
