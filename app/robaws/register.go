package robaws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// ErrInvalidURL is returned by Register for a URL that is not an absolute
// http(s) URL.
var ErrInvalidURL = errors.New("url must be an absolute http(s) URL")

// RegistrationGrace is how long a replaced registration's secret stays
// valid, so that deliveries already in flight still verify (SPEC §5).
const RegistrationGrace = time.Hour

// Hook is an endpoint as the registrar sees it (intake.Endpoint is the
// same route as the receiver sees it): what to register at Robaws, and
// where.
type Hook struct {
	// Name is the config key, e.g. "customers"; secrets are stored under it.
	Name string
	// Path is the HTTP path, e.g. "/api/webhooks/robaws/customers".
	Path string
	// Events are registered at Robaws.
	Events []string
	// AutoRegister keeps a registration pointing at the public URL
	// (EnsureRegistered).
	AutoRegister bool
}

// RegistrarConfig configures NewRegistrar.
type RegistrarConfig struct {
	// Hooks are the webhook routes that may be registered.
	Hooks []Hook
	// OnSecretsChanged runs after the registrar changed the stored secrets
	// (the receiver reloads them there). Default does nothing.
	OnSecretsChanged func(ctx context.Context) error
	// Now is the clock for grace periods; tests replace it. Default
	// time.Now.
	Now func() time.Time
	// Logger, already scoped by the caller; default discards.
	Logger *slog.Logger
}

// Registrar keeps webhook registrations at Robaws and their secrets in the
// store in step (SPEC §5). A registration is a store.Secret with a
// WebhookID. The secret Robaws returns is stored before anything else
// happens and never leaves the store.Secret (show Hint only).
type Registrar struct {
	db        *store.DB
	client    *Client
	endpoints []Hook
	changed   func(ctx context.Context) error
	now       func() time.Time
	logger    *slog.Logger

	mu sync.Mutex // one registration change at a time
}

// NewRegistrar returns a registrar. client may be nil (no credentials):
// Register and DeleteRemote then fail with ErrNoCredentials and
// EnsureRegistered does nothing.
func NewRegistrar(db *store.DB, client *Client, cfg RegistrarConfig) *Registrar {
	if cfg.OnSecretsChanged == nil {
		cfg.OnSecretsChanged = func(context.Context) error { return nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registrar{db: db, client: client, endpoints: slices.Clone(cfg.Hooks),
		changed: cfg.OnSecretsChanged, now: cfg.Now, logger: cfg.Logger}
}

// endpoint returns the endpoint named name, or store.ErrUnknownEndpoint.
func (g *Registrar) endpoint(name string) (*Hook, error) {
	i := slices.IndexFunc(g.endpoints, func(ep Hook) bool { return ep.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w %q", store.ErrUnknownEndpoint, name)
	}
	return &g.endpoints[i], nil
}

// Register registers webhookURL (the public URL + the endpoint's path; the
// caller builds it) at Robaws for the events of endpoint endpointName and
// stores the returned secret, then calls OnSecretsChanged.
//
// Without force it refuses, with an error wrapping store.ErrConflict, when
// the endpoint already has an active registration; with force it adds one
// and leaves the others as they are. It returns store.ErrUnknownEndpoint,
// ErrInvalidURL, ErrNoCredentials, an *Error for a Robaws refusal, or a
// storage error (after deleting the registration at Robaws again, since
// without its secret no delivery could be verified). If only
// OnSecretsChanged fails, the stored secret is returned with the error.
func (g *Registrar) Register(ctx context.Context, endpointName, webhookURL string, force bool) (*store.Secret, error) {
	ep, err := g.endpoint(endpointName)
	if err != nil {
		return nil, err
	}
	if err := checkWebhookURL(webhookURL); err != nil {
		return nil, err
	}
	if g.client == nil {
		return nil, ErrNoCredentials
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !force {
		regs, err := g.registrations(ctx, ep.Name)
		if err != nil {
			return nil, err
		}
		if len(regs) > 0 {
			r := regs[len(regs)-1]
			return nil, fmt.Errorf("endpoint %s already has an active registration (id %s, webhook %s, %s); use force to add another: %w",
				ep.Name, r.ID, r.WebhookID, r.URL, store.ErrConflict)
		}
	}
	return g.register(ctx, ep, webhookURL)
}

// register does the work of Register under g.mu.
func (g *Registrar) register(ctx context.Context, ep *Hook, webhookURL string) (*store.Secret, error) {
	wh, err := g.client.RegisterWebhook(ctx, webhookURL, ep.Events)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", ep.Name, err)
	}
	// From here on the registration exists at Robaws: finish even if the
	// caller goes away, or its secret would be lost.
	ctx = context.WithoutCancel(ctx)
	if wh.Secret == "" {
		err := fmt.Errorf("register %s: robaws answered without a secret", ep.Name)
		return nil, g.undo(ctx, wh.ID, err)
	}
	events := wh.Events
	if len(events) == 0 {
		events = ep.Events
	}
	// Keep the URL as requested, not as echoed: EnsureRegistered compares
	// it with the public URL, and a normalised echo would re-register on
	// every call.
	s := &store.Secret{Endpoint: ep.Name, WebhookID: wh.ID, URL: webhookURL, Events: events, Value: wh.Secret, AddedBy: store.AddedByRobaws}
	if err := g.db.CreateSecret(ctx, s); err != nil {
		return nil, g.undo(ctx, wh.ID, fmt.Errorf("register %s: store secret of webhook %s: %w", ep.Name, wh.ID, err))
	}
	g.logger.Info("webhook registered", "endpoint", ep.Name, "webhook_id", wh.ID, "url", webhookURL, "secret_id", s.ID)
	if err := g.changed(ctx); err != nil {
		return s, fmt.Errorf("register %s: %w", ep.Name, err)
	}
	return s, nil
}

// undo deletes a registration whose secret could not be kept, and returns
// why (cause) with what became of the registration, for the caller to
// handle once.
func (g *Registrar) undo(ctx context.Context, webhookID string, cause error) error {
	if err := g.client.DeleteWebhook(ctx, webhookID); err != nil {
		return fmt.Errorf("%w; deleting registration %s again failed too: %w", cause, webhookID, err)
	}
	return fmt.Errorf("%w (registration %s deleted again)", cause, webhookID)
}

// DeleteRemote deactivates the stored secret secretID and deletes its
// registration at Robaws (a registration already gone there is fine). The
// local deactivation comes first and stands even if Robaws fails, so a
// secret the user wants gone stops verifying at once; calling DeleteRemote
// again retries Robaws. It returns store.ErrNotFound for an unknown id, an
// error wrapping store.ErrConflict for a secret without a webhook id (added
// by hand), ErrNoCredentials, or the Robaws error.
func (g *Registrar) DeleteRemote(ctx context.Context, secretID string) error {
	if g.client == nil {
		return ErrNoCredentials
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, err := g.db.FindSecretByID(ctx, secretID)
	if err != nil {
		return err
	}
	if s.WebhookID == "" {
		return fmt.Errorf("secret %s has no Robaws webhook id; delete it locally or in Robaws: %w", s.ID, store.ErrConflict)
	}
	if s.Active {
		s.Active = false
		if err := g.db.UpdateSecret(ctx, s); err != nil {
			return fmt.Errorf("deactivate secret %s: %w", s.ID, err)
		}
		if err := g.changed(ctx); err != nil {
			return err
		}
	}
	if err := g.client.DeleteWebhook(ctx, s.WebhookID); err != nil {
		return fmt.Errorf("secret %s deactivated, but deleting webhook %s at Robaws failed: %w", s.ID, s.WebhookID, err)
	}
	g.logger.Info("webhook deleted", "endpoint", s.Endpoint, "webhook_id", s.WebhookID, "secret_id", s.ID)
	return nil
}

// EnsureRegistered keeps one Robaws registration pointing at publicURL for
// every endpoint with AutoRegister (SPEC §5); call it whenever the tunnel
// comes online. It does nothing without credentials.
//
// For each such endpoint: when no active registration has URL = publicURL
// + path, it registers one. Then every active registration of the endpoint
// older than the current one (whatever its URL) is deleted at Robaws
// and its secret kept valid for RegistrationGrace (ExpiresAt), so that
// deliveries in flight still verify. If Robaws cannot delete one, its secret
// stays as it is and the next call tries again. Secrets whose grace has
// passed are deactivated.
//
// Registrations at Robaws that are not stored here are never deleted, even
// when they point at this endpoint's path: they may belong to another
// robaws-edge on the same Robaws account. They are logged as a warning.
//
// Errors of one endpoint do not stop the others; all are returned, joined,
// for the caller to log once.
func (g *Registrar) EnsureRegistered(ctx context.Context, publicURL string) error {
	if g.client == nil {
		return nil
	}
	publicURL = strings.TrimRight(strings.TrimSpace(publicURL), "/")
	if err := checkWebhookURL(publicURL); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for i := range g.endpoints {
		ep := &g.endpoints[i]
		if !ep.AutoRegister {
			continue
		}
		if err := g.ensure(ctx, ep, publicURL+ep.Path); err != nil {
			errs = append(errs, fmt.Errorf("auto-register %s at %s: %w", ep.Name, publicURL+ep.Path, err))
		}
	}
	if err := g.expire(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := g.changed(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, err)
	}
	g.warnUnknown(ctx, publicURL)
	return errors.Join(errs...)
}

// ensure registers want for ep unless it is registered, then retires the
// older registrations.
func (g *Registrar) ensure(ctx context.Context, ep *Hook, want string) error {
	regs, err := g.registrations(ctx, ep.Name)
	if err != nil {
		return err
	}
	// The current registration is the newest one at want that is not
	// already being retired; the ones before it are older.
	older := regs
	var current *store.Secret
	for i, s := range regs {
		if s.URL == want && s.ExpiresAt.IsZero() {
			current, older = s, regs[:i]
		}
	}
	if current == nil {
		if _, err := g.register(ctx, ep, want); err != nil {
			return err
		}
	}
	expires := g.now().Add(RegistrationGrace).UTC()
	for _, s := range older {
		if !s.ExpiresAt.IsZero() {
			continue // already deleted at Robaws, in its grace period
		}
		if err := g.client.DeleteWebhook(ctx, s.WebhookID); err != nil {
			g.logger.Warn("could not delete replaced registration; will retry", "endpoint", ep.Name, "webhook_id", s.WebhookID, "error", err)
			continue
		}
		s.ExpiresAt = expires
		if err := g.db.UpdateSecret(context.WithoutCancel(ctx), s); err != nil {
			return fmt.Errorf("retire secret %s: %w", s.ID, err)
		}
		g.logger.Info("replaced registration deleted", "endpoint", ep.Name, "webhook_id", s.WebhookID,
			"url", s.URL, "secret_id", s.ID, "valid_until", expires.Format(time.RFC3339))
	}
	return nil
}

// expire deactivates secrets whose grace period has passed.
func (g *Registrar) expire(ctx context.Context) error {
	list, err := g.db.FindSecrets(ctx)
	if err != nil {
		return err
	}
	now := g.now()
	for _, s := range list {
		if s.Active && !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			s.Active = false
			if err := g.db.UpdateSecret(ctx, s); err != nil {
				return fmt.Errorf("deactivate expired secret %s: %w", s.ID, err)
			}
		}
	}
	return nil
}

// warnUnknown logs registrations at Robaws that point at one of the
// endpoints' paths but are not stored here. It is advice, not part of the
// registrations' upkeep, so a failure to check is logged here (once, as a
// warning) rather than failing EnsureRegistered.
func (g *Registrar) warnUnknown(ctx context.Context, publicURL string) {
	remote, err := g.client.ListWebhooks(ctx)
	if err != nil {
		g.logger.Warn("could not check for unknown registrations at Robaws", "error", err)
		return
	}
	list, err := g.db.FindSecrets(ctx)
	if err != nil {
		g.logger.Warn("could not check for unknown registrations at Robaws", "error", err)
		return
	}
	known := map[string]bool{}
	for _, s := range list {
		if s.WebhookID != "" {
			known[s.WebhookID] = true
		}
	}
	for _, w := range remote {
		if known[w.ID] {
			continue
		}
		u, err := url.Parse(w.URL)
		if err != nil {
			continue
		}
		for _, ep := range g.endpoints {
			if ep.AutoRegister && path.Clean("/"+u.Path) == ep.Path {
				g.logger.Warn("unknown Robaws registration points at this endpoint; delete it in Robaws if it is stale",
					"endpoint", ep.Name, "webhook_id", w.ID, "url", w.URL, "ours", w.URL == publicURL+ep.Path)
			}
		}
	}
}

// registrations returns the endpoint's active registrations that are not
// expired, oldest first.
func (g *Registrar) registrations(ctx context.Context, endpoint string) ([]*store.Secret, error) {
	list, err := g.db.FindSecrets(ctx)
	if err != nil {
		return nil, err
	}
	now := g.now()
	var out []*store.Secret
	for _, s := range list {
		if s.Endpoint == endpoint && s.Active && s.WebhookID != "" && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// checkWebhookURL accepts absolute http(s) URLs only.
func checkWebhookURL(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q", ErrInvalidURL, s)
	}
	return nil
}
