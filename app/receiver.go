package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// ErrStorageUnavailable is returned when a delivery could not be committed;
// the receiver answers 503 so Robaws retries.
var ErrStorageUnavailable = errors.New("storage unavailable")

// ErrUnknownEndpoint is returned for an endpoint name that is not configured.
var ErrUnknownEndpoint = errors.New("unknown endpoint")

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

// ReceiverConfig configures NewReceiver.
type ReceiverConfig struct {
	// Endpoints are the configured webhook routes (at least one).
	Endpoints []Endpoint
	// Mapping maps client objects to customers.
	Mapping customer.Mapping
	// Tolerance is the allowed |now - t|; default 5m.
	Tolerance time.Duration
	// RejectedPerMinute caps how many rejected deliveries are logged per
	// minute; beyond it only a counter grows. Default 600.
	RejectedPerMinute int
	// Logger; default discards.
	Logger *slog.Logger
}

// Receiver verifies, parses and stores deliveries. The public app, replay
// and send-test all go through it, so every delivery takes one path.
type Receiver struct {
	db        *store.DB
	endpoints []*Endpoint
	mapping   customer.Mapping
	tolerance time.Duration
	logger    *slog.Logger
	metrics   *Metrics

	// Now is the clock; tests replace it.
	Now func() time.Time

	secrets atomic.Pointer[map[string][]Secret] // registered secrets by endpoint

	reloadMu sync.Mutex

	rejMu      sync.Mutex
	rejWindow  int64 // unix minute
	rejCount   int
	rejLimit   int
	rejDropped atomic.Int64
}

// NewReceiver returns a receiver over db. It loads the registered secrets.
func NewReceiver(db *store.DB, cfg ReceiverConfig) (*Receiver, error) {
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
	r := &Receiver{db: db, mapping: cfg.Mapping.WithDefaults(), tolerance: cfg.Tolerance,
		logger: cfg.Logger, rejLimit: cfg.RejectedPerMinute, Now: time.Now, metrics: newMetrics()}
	for i := range cfg.Endpoints {
		ep := cfg.Endpoints[i]
		r.endpoints = append(r.endpoints, &ep)
	}
	empty := map[string][]Secret{}
	r.secrets.Store(&empty)
	if err := r.ReloadSecrets(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// Endpoints returns the configured endpoints.
func (r *Receiver) Endpoints() []*Endpoint { return r.endpoints }

// Endpoint returns the endpoint named name, or ErrUnknownEndpoint.
func (r *Receiver) Endpoint(name string) (*Endpoint, error) {
	for _, ep := range r.endpoints {
		if ep.Name == name {
			return ep, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownEndpoint, name)
}

// RejectedDropped is how many rejected deliveries were not logged because
// of the rate limit since start.
func (r *Receiver) RejectedDropped() int64 { return r.rejDropped.Load() }

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
	m := map[string][]Secret{}
	for _, s := range list {
		if !s.Active {
			continue
		}
		m[s.Endpoint] = append(m[s.Endpoint], Secret{ID: s.ID, Value: s.Value, ExpiresAt: s.ExpiresAt})
	}
	r.secrets.Store(&m)
	return nil
}

// ActiveSecrets returns the endpoint's config secrets followed by its
// registered ones that have not expired.
func (r *Receiver) ActiveSecrets(ep *Endpoint) []Secret {
	now := r.Now()
	var out []Secret
	for i, v := range ep.Secrets {
		if v != "" {
			out = append(out, Secret{ID: fmt.Sprintf("config:%s#%d", ep.Name, i+1), Value: v})
		}
	}
	for _, s := range (*r.secrets.Load())[ep.Name] {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out
}

// Answer is the receiver's reply to one delivery.
type Answer struct {
	// Code is the HTTP status; it is not part of the JSON body.
	Code int `json:"-"`
	// Status is the delivery status word (processed, failed, ignored,
	// stale, duplicate), empty for a rejection.
	Status string `json:"status,omitempty"`
	LogID  uint64 `json:"log_id,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Incoming is one request as received.
type Incoming struct {
	Endpoint        *Endpoint
	Body            []byte
	SignatureHeader string
	RemoteAddr      string
	ReceivedAt      time.Time
}

// envelope is the delivery's outer object: the values of id, event and
// data as they appear in the body (nil when absent).
type envelope struct {
	ID    json.RawMessage `json:"id"`
	Event json.RawMessage `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// parseEnvelope decodes body with json.Unmarshal: keys match
// case-insensitively, the last of a repeated key wins, and null is an empty
// envelope. ok is false when body is not valid JSON or holds something
// other than an object.
func parseEnvelope(body []byte) (env envelope, ok bool) {
	return env, json.Unmarshal(body, &env) == nil
}

// Receive verifies, parses and stores one delivery. The returned error is
// ErrStorageUnavailable when nothing could be committed.
func (r *Receiver) Receive(ctx context.Context, in Incoming) (Answer, error) {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = r.Now()
	}
	t, secretID, err := verifySignature(in.SignatureHeader, in.Body, r.ActiveSecrets(in.Endpoint), r.Now(), r.tolerance)
	if err != nil {
		r.reject(ctx, in, t, err)
		return Answer{Code: 401, Error: err.Error()}, nil
	}
	d := r.delivery(in.Endpoint, in.Body, t)
	d.ReceivedAt, d.RemoteAddr, d.SecretID, d.Source = in.ReceivedAt, in.RemoteAddr, secretID, store.SourceWebhook
	d.DurationUS = time.Since(in.ReceivedAt).Microseconds()
	return r.store(ctx, in.Endpoint, d, in.ReceivedAt)
}

// Replay processes stored log entry id again through the same path as a
// live delivery. A rejected entry is first re-verified against today's
// secrets, ignoring the tolerance (the timestamp is signed).
func (r *Receiver) Replay(ctx context.Context, id uint64) (Answer, error) {
	ev, err := r.db.FindEventByID(ctx, id)
	if err != nil {
		return Answer{}, err
	}
	p, err := r.db.FindPayload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Answer{}, fmt.Errorf("log entry %d has no stored payload: %w", id, store.ErrConflict)
	} else if err != nil {
		return Answer{}, err
	}
	ep, err := r.Endpoint(ev.Endpoint)
	if err != nil {
		return Answer{}, fmt.Errorf("log entry %d: %w", id, err)
	}
	start := time.Now()
	t, secretID := ev.SignatureTimestamp, ev.SecretID
	if ev.Status == store.StatusRejected {
		t, secretID, err = verifySignature(p.SignatureHeader, p.Body, r.ActiveSecrets(ep), r.Now(), -1)
		if err != nil {
			return Answer{Code: 401, Status: store.StatusRejected, LogID: id, Error: err.Error()}, nil
		}
	}
	d := r.delivery(ep, p.Body, t)
	d.ReplayOf, d.SecretID, d.Source = id, secretID, store.SourceReplay
	d.DurationUS = time.Since(start).Microseconds()
	return r.store(ctx, ep, d, start)
}

// delivery parses a verified body into what the store keeps (SPEC §1.5–7);
// the customer's raw is the body's data as it is.
func (r *Receiver) delivery(ep *Endpoint, body []byte, t int64) *store.Delivery {
	d := &store.Delivery{Endpoint: ep.Name, Payload: body, SignatureTimestamp: t}
	env, ok := parseEnvelope(body)
	if !ok {
		d.Status, d.Error = store.StatusFailed, "body is not a JSON object"
		return d
	}
	eventID, okID := jsonString(env.ID)
	event, okEvent := jsonString(env.Event)
	d.EventID, d.Event = eventID, event
	switch {
	case !okID:
		d.Status, d.Error = store.StatusFailed, "id missing or not a string"
		return d
	case len(eventID) > maxIDLen || len(event) > maxIDLen:
		d.EventID, d.Event = clip(eventID), clip(event)
		d.Status, d.Error = store.StatusFailed, fmt.Sprintf("id or event longer than %d bytes", maxIDLen)
		return d
	case !okEvent:
		d.Status, d.Error = store.StatusFailed, "event missing or not a string"
		return d
	case !isObject(env.Data):
		d.Status, d.Error = store.StatusFailed, "data missing or not an object"
		return d
	}
	if !slices.Contains(ep.Events, event) {
		d.ClientID = clip(customer.ID(env.Data))
		d.Status = store.StatusIgnored
		return d
	}
	if event != "client.created" && event != "client.updated" {
		d.ClientID = clip(customer.ID(env.Data))
		return d // accepted, nothing else to do
	}
	// Map fails only when data has no id (or does not decode), so the log
	// entry then has no client id either.
	c, err := customer.Map(env.Data, r.mapping)
	if err != nil {
		d.Status, d.Error = store.StatusFailed, err.Error()
		return d
	}
	d.ClientID = clip(c.ID)
	if len(c.ID) > maxIDLen {
		// The customer id is a bbolt key (at most 32 KiB): a longer one
		// would fail the commit and be retried by Robaws forever.
		d.Status, d.Error = store.StatusFailed, fmt.Sprintf("data.id longer than %d bytes", maxIDLen)
		return d
	}
	if c.Version.IsZero() {
		c.Version = time.Unix(t, 0).UTC()
	}
	d.Customer = c
	return d
}

func (r *Receiver) store(ctx context.Context, ep *Endpoint, d *store.Delivery, start time.Time) (Answer, error) {
	res, err := r.db.Ingest(ctx, d)
	if err != nil {
		r.logger.Error("store delivery", "endpoint", ep.Name, "event_id", d.EventID, "error", err)
		return Answer{}, fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
	}
	if d.ReplayOf == 0 {
		// Replays are not deliveries; counting them would turn a bulk
		// replay into a spike of "failed" or "processed" deliveries.
		r.metrics.delivery(ep.Name, res.Status, time.Since(start))
	}
	r.logger.Debug("delivery", "endpoint", ep.Name, "event", d.Event, "event_id", d.EventID, "status", res.Status, "log_id", res.LogID)
	a := Answer{Code: 200, Status: res.Status, LogID: res.LogID}
	if res.Status == store.StatusFailed {
		a.Error = d.Error
	}
	return a, nil
}

// reject logs a rejected delivery unless the per-minute limit is reached.
func (r *Receiver) reject(ctx context.Context, in Incoming, t int64, reason error) {
	r.metrics.delivery(in.Endpoint.Name, store.StatusRejected, 0)
	if !r.allowRejected() {
		r.rejDropped.Add(1)
		return
	}
	r.logger.Warn("webhook rejected", "endpoint", in.Endpoint.Name, "reason", reason.Error(), "remote_ip", in.RemoteAddr)
	d := &store.Delivery{
		Endpoint: in.Endpoint.Name, Status: store.StatusRejected, Error: reason.Error(),
		ReceivedAt: in.ReceivedAt, RemoteAddr: in.RemoteAddr, SignatureTimestamp: t,
		Payload: in.Body, SignatureHeader: in.SignatureHeader,
		DurationUS: time.Since(in.ReceivedAt).Microseconds(),
	}
	// The event and client ids are unverified, but they help find the entry.
	if env, ok := parseEnvelope(in.Body); ok {
		id, _ := jsonString(env.ID)
		event, _ := jsonString(env.Event)
		d.EventID, d.Event, d.ClientID = clip(id), clip(event), clip(customer.ID(env.Data))
	}
	if _, err := r.db.Ingest(ctx, d); err != nil {
		r.logger.Error("store rejected delivery", "endpoint", in.Endpoint.Name, "error", err)
	}
}

// maxIDLen bounds event ids and names: they become bbolt keys (at most
// 32 KiB) and counter names.
const maxIDLen = 512

// clip shortens an untrusted identifier to maxIDLen bytes.
func clip(s string) string {
	if len(s) > maxIDLen {
		return s[:maxIDLen]
	}
	return s
}

func (r *Receiver) allowRejected() bool {
	minute := r.Now().Unix() / 60
	r.rejMu.Lock()
	defer r.rejMu.Unlock()
	if minute != r.rejWindow {
		r.rejWindow, r.rejCount = minute, 0
	}
	r.rejCount++
	return r.rejCount <= r.rejLimit
}

// jsonString decodes a JSON string; ok is false when raw is not a string or
// the string is blank.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, strings.TrimSpace(s) != ""
}

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
