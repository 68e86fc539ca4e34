// Package intake takes in one webhook delivery: it verifies the
// Robaws-Signature over the raw body, parses the envelope, stores the
// delivery through store.DB.Ingest and says what became of it (SPEC §1).
//
// Verify and Sign are pure functions over plain values, like stripe-go's
// webhook package. The Receiver adds what needs state: the endpoints and
// their secrets (config secrets plus the registered ones, reloaded from the
// store), the store, the rejected-request limiter and the clock. Live
// deliveries (Receive) and replays of stored ones (Replay) take the same
// path from the envelope to the commit, and both answer with an Outcome.
//
// The package knows nothing about HTTP: app's public receiver reads the
// request, calls Receive and maps its Outcome or error onto the wire.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// Endpoint is one configured webhook route with its own secrets.
type Endpoint struct {
	// Name is the config key, e.g. "customers".
	Name string
	// Path is the HTTP path, e.g. "/api/webhooks/robaws/customers".
	Path string
	// Events lists the accepted event names; others are logged as ignored.
	Events []string
	// Secrets are the config secrets, always active.
	Secrets []string
	// AutoRegister keeps a Robaws registration pointing at the public URL.
	AutoRegister bool
}

// Config configures NewReceiver.
type Config struct {
	// Endpoints are the configured webhook routes; at least one is required.
	Endpoints []Endpoint
	// Mapping maps client objects to customers; zero fields take
	// customer.Mapping's defaults.
	Mapping customer.Mapping
	// Families are the applying event families; default the customers
	// family with Mapping (CustomersFamily).
	Families []Family
	// Tolerance is the allowed |now - t|; default 5m.
	Tolerance time.Duration
	// RejectedPerMinute caps how many rejected deliveries are logged per
	// minute; beyond it only a counter grows. Default 600.
	RejectedPerMinute int
	// OnDelivery, when set, is called once per live delivery after it is
	// committed (or rejected) with its endpoint, its status word (processed,
	// failed, ignored, stale, duplicate, rejected) and the time from receipt
	// to commit (0 for a rejection). Replays do not call it. It must be safe
	// for concurrent use; app's Metrics.Delivery is one.
	OnDelivery func(endpoint, status string, took time.Duration)
	// Logger; default discards.
	Logger *slog.Logger
}

// Receiver verifies, parses and stores deliveries. The public app, replay
// and send-test all go through it, so every delivery takes one path.
type Receiver struct {
	db         *store.DB
	endpoints  []*Endpoint
	families   []Family
	tolerance  time.Duration
	logger     *slog.Logger
	onDelivery func(endpoint, status string, took time.Duration)
	rejected   limiter

	// Now is the wall clock, read once per delivery; tests replace it.
	Now func() time.Time

	secrets  atomic.Pointer[map[string][]ActiveSecret] // registered secrets by endpoint
	reloadMu sync.Mutex
	// activity tracks accepted and signed-but-rejected deliveries per
	// endpoint, for the health problem deliveries_rejected.
	activity activity
}

// NewReceiver returns a receiver over db with the registered secrets
// loaded. It fails when no endpoint is configured or the secrets cannot be
// read.
func NewReceiver(db *store.DB, cfg Config) (*Receiver, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no endpoint configured")
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	if cfg.RejectedPerMinute <= 0 {
		cfg.RejectedPerMinute = 600
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnDelivery == nil {
		cfg.OnDelivery = func(string, string, time.Duration) {}
	}
	if cfg.Families == nil {
		cfg.Families = []Family{CustomersFamily(cfg.Mapping.WithDefaults())}
	}
	r := &Receiver{db: db, families: cfg.Families, tolerance: cfg.Tolerance,
		logger: cfg.Logger, onDelivery: cfg.OnDelivery, Now: time.Now}
	r.rejected.limit = cfg.RejectedPerMinute
	for i := range cfg.Endpoints {
		ep := cfg.Endpoints[i]
		r.endpoints = append(r.endpoints, &ep)
	}
	empty := map[string][]ActiveSecret{}
	r.secrets.Store(&empty)
	if err := r.ReloadSecrets(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// Endpoints returns the configured endpoints.
func (r *Receiver) Endpoints() []*Endpoint { return r.endpoints }

// Endpoint returns the endpoint named name, or an error wrapping
// store.ErrUnknownEndpoint.
func (r *Receiver) Endpoint(name string) (*Endpoint, error) {
	for _, ep := range r.endpoints {
		if ep.Name == name {
			return ep, nil
		}
	}
	return nil, fmt.Errorf("%w %q", store.ErrUnknownEndpoint, name)
}

// RejectedDropped is how many rejected deliveries were not logged because
// of the rate limit since start.
func (r *Receiver) RejectedDropped() int64 { return r.rejected.dropped.Load() }

// ReloadSecrets refreshes the in-memory copy of the registered secrets;
// call it after any change to them.
func (r *Receiver) ReloadSecrets(ctx context.Context) error {
	// Serialized: two reloads racing could otherwise store the older read
	// last (a deactivated secret would keep verifying).
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	list, err := r.db.FindSecrets(ctx)
	if err != nil {
		return fmt.Errorf("load secrets: %w", err)
	}
	m := map[string][]ActiveSecret{}
	for _, s := range list {
		if !s.Active {
			continue
		}
		m[s.Endpoint] = append(m[s.Endpoint], ActiveSecret{ID: s.ID, Value: s.Value, ExpiresAt: s.ExpiresAt})
	}
	r.secrets.Store(&m)
	return nil
}

// ActiveSecrets returns the endpoint's config secrets followed by its
// registered ones that have not expired at now.
func (r *Receiver) ActiveSecrets(ep *Endpoint, now time.Time) []ActiveSecret {
	var out []ActiveSecret
	for i, v := range ep.Secrets {
		if v != "" {
			out = append(out, ActiveSecret{ID: fmt.Sprintf("config:%s#%d", ep.Name, i+1), Value: v})
		}
	}
	for _, s := range (*r.secrets.Load())[ep.Name] {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out
}

// Outcome is what became of one delivery or replay. Its JSON is the
// receiver's 200 answer (SPEC §1) and the local API's replay answer.
type Outcome struct {
	// Status is the log status word: processed, failed, ignored, stale or
	// duplicate; rejected only for a replay that still does not verify.
	Status string `json:"status"`
	// LogID is the log entry: the original one for a duplicate.
	LogID uint64 `json:"log_id"`
	// Error is the reason of a failed or rejected outcome.
	Error string `json:"error,omitempty"`
}

// Incoming is one request as received.
type Incoming struct {
	// Endpoint is the route the request came in on; required.
	Endpoint *Endpoint
	// Body is the raw body as received on the wire, never decoded; the
	// receiver keeps it, so it must not be reused by the caller.
	Body []byte
	// SignatureHeader is the Robaws-Signature header, "" when absent.
	SignatureHeader string
	// RemoteAddr is the sender's IP, logged and stored with the entry.
	RemoteAddr string
	// ReceivedAt is the clock read when the request arrived (Receiver.Now);
	// when zero, Receive reads it. Every time-dependent decision of the
	// delivery uses this one reading.
	ReceivedAt time.Time
}

// Receive verifies, parses and stores one delivery and reports its
// outcome. A delivery that does not verify is logged as rejected (within
// the limiter's budget) and its error is one of the signature errors,
// unwrapped (ErrMissingSignature … ErrBadSignature). When nothing could be
// committed the error wraps store.ErrUnavailable.
func (r *Receiver) Receive(ctx context.Context, in Incoming) (Outcome, error) {
	now := in.ReceivedAt
	if now.IsZero() {
		now = r.Now()
	}
	t, secretID, err := Verify(in.SignatureHeader, in.Body, r.ActiveSecrets(in.Endpoint, now), now, r.tolerance)
	if err != nil {
		r.activity.reject(in.Endpoint.Name, now, err)
		r.reject(ctx, in, t, err, now)
		return Outcome{}, err
	}
	r.activity.accept(in.Endpoint.Name, now)
	d := r.newDelivery(in.Endpoint, in.Body, t)
	d.ReceivedAt, d.RemoteAddr, d.SecretID, d.Source = now, in.RemoteAddr, secretID, store.SourceWebhook
	// Durations use now's monotonic reading when the clock has one.
	d.DurationUS = time.Since(now).Microseconds()
	o, err := r.ingest(ctx, in.Endpoint, d)
	if err != nil {
		return Outcome{}, err
	}
	if !store.IsTestID(d.ClientID) {
		// send-test's deliveries are test data, left out of the metrics.
		r.onDelivery(in.Endpoint.Name, o.Status, time.Since(now))
	}
	return o, nil
}

// Replay processes stored log entry id again through the same path as a
// live delivery. A rejected entry is first re-verified against the secrets
// active now, ignoring the tolerance (the timestamp is signed); if it still
// does not verify, the outcome is rejected with the reason and the entry is
// left alone. Returns store.ErrNotFound for an unknown entry, an error
// wrapping store.ErrConflict when no payload is kept, one wrapping
// store.ErrUnknownEndpoint when the entry's endpoint is no longer configured, and
// one wrapping store.ErrUnavailable when the commit failed.
func (r *Receiver) Replay(ctx context.Context, id uint64) (Outcome, error) {
	ev, err := r.db.FindLogEntry(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	p, err := r.db.FindPayload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Outcome{}, fmt.Errorf("log entry %d has no stored payload: %w", id, store.ErrConflict)
	} else if err != nil {
		return Outcome{}, err
	}
	ep, err := r.Endpoint(ev.Endpoint)
	if err != nil {
		return Outcome{}, fmt.Errorf("log entry %d: %w", id, err)
	}
	start, now := time.Now(), r.Now()
	t, secretID := ev.SignatureTimestamp, ev.SecretID
	if ev.Status == store.StatusRejected {
		t, secretID, err = Verify(p.SignatureHeader, p.Body, r.ActiveSecrets(ep, now), now, -1)
		if err != nil {
			return Outcome{Status: store.StatusRejected, LogID: id, Error: err.Error()}, nil
		}
	}
	d := r.newDelivery(ep, p.Body, t)
	d.ReplayOf, d.SecretID, d.Source = id, secretID, store.SourceReplay
	d.DurationUS = time.Since(start).Microseconds()
	// Replays are not deliveries: no OnDelivery, or a bulk replay would
	// show as a spike of "failed" or "processed" deliveries.
	return r.ingest(ctx, ep, d)
}

// ingest commits a parsed delivery. Its error is the one place a commit
// failure is logged; callers only return it.
func (r *Receiver) ingest(ctx context.Context, ep *Endpoint, d *store.Delivery) (Outcome, error) {
	res, err := r.db.Ingest(ctx, d)
	if err != nil {
		r.logger.Error("store delivery", "endpoint", ep.Name, "event_id", d.EventID, "error", err)
		if !errors.Is(err, store.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return Outcome{}, err
	}
	// One info line per delivery, so journalctl -f tails them; never the
	// payload or the secret.
	what := "delivery"
	if d.ReplayOf != 0 {
		what = "replay"
	}
	r.logger.Info(what, "endpoint", ep.Name, "event", d.Event, "event_id", d.EventID, "status", res.Status,
		"log_id", res.LogID, "duration_ms", float64(d.DurationUS)/1000)
	o := Outcome{Status: res.Status, LogID: res.LogID}
	if res.Status == store.StatusFailed {
		o.Error = d.Error
	}
	return o, nil
}

// reject logs a delivery rejected at now unless the per-minute limit is
// reached. A failure to store it is logged here: the sender gets its 401
// either way.
func (r *Receiver) reject(ctx context.Context, in Incoming, t int64, reason error, now time.Time) {
	r.onDelivery(in.Endpoint.Name, store.StatusRejected, 0)
	if !r.rejected.allow(now) {
		return
	}
	r.logger.Warn("webhook rejected", "endpoint", in.Endpoint.Name, "reason", reason.Error(), "remote_ip", in.RemoteAddr)
	d := rejectedDelivery(in, t, reason, now)
	d.DurationUS = time.Since(now).Microseconds()
	if _, err := r.db.Ingest(ctx, d); err != nil {
		r.logger.Error("store rejected delivery", "endpoint", in.Endpoint.Name, "error", err)
	}
}
