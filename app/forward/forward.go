// Package forward passes what arrives on to the office's own systems
// (SPEC §8): HTTP targets, signed the Standard Webhooks way, and NATS
// JetStream streams.
//
// Each destination is one goroutine that reads its stream from the store
// at its cursor — "events" (the log's processed entries, in the order they
// became processed) or "changes" (the customer history, webhooks and syncs
// alike) — sends the next item, and moves the cursor only after the target
// acknowledged it: a 2xx answer, or JetStream's PubAck. The log is the
// outbox, so nothing is copied for a destination and the intake never
// waits for one; a target that is down only makes its cursor wait. Items
// carry an id derived from what they are, so a repeat after a crash or a
// restore is recognisable by the consumer. A target that refuses an item
// (a 4xx of the "unacceptable" kind) three times sets it aside as dead,
// kept with its last answer until it is re-sent.
//
// The package knows nothing of Fiber: app serves its routes and pages,
// main builds it from the config.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// Kinds of destination.
const (
	KindHTTP = "http"
	KindNATS = "nats"
)

// Destination is one configured destination (the forward section of the
// config). Validation of the values is configs' job; New refuses only what
// it cannot build.
type Destination struct {
	// Name is the config key: [a-z0-9-], at most 40 characters.
	Name string
	// Kind is KindHTTP or KindNATS.
	Kind string
	// URL is the http(s) target, or the NATS server(s), comma-separated.
	URL string
	// Stream is store.StreamEvents or store.StreamChanges.
	Stream string
	// Events keeps only these events (events stream); empty keeps all.
	Events []string
	// Secret is the Standard Webhooks secret (http): whsec_<base64>.
	Secret string
	// Headers are extra request headers (http).
	Headers map[string]string
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
	// Subject is the NATS subject template. Default robaws.{endpoint}.{event}.
	Subject string
	// NATSStream is the JetStream stream. Default ROBAWS.
	NATSStream string
	// Credentials is a NATS .creds file; Token a NATS token.
	Credentials, Token string
	// Beginning starts a new destination at the oldest item kept instead
	// of after the newest (start: beginning).
	Beginning bool
	// AlertAfter: an undelivered item older than this is a health
	// problem (forward_behind). Default 15m.
	AlertAfter time.Duration
	// IncludeTest forwards send-test's test data too.
	IncludeTest bool
}

// Config configures New.
type Config struct {
	Destinations []Destination
	// Version goes into the User-Agent of HTTP requests.
	Version string
	// Logger; default discards.
	Logger *slog.Logger
	// Schedule is the wait after each failed attempt of an item in a row,
	// the last one repeating. Default DefaultSchedule; tests shorten it.
	Schedule []time.Duration
	// Refusals is how many refusals of one item in a row set it aside as
	// dead. Default 3.
	Refusals int
	// SaveEvery is how often a moving cursor is saved; a crash repeats
	// what was delivered since. Default 1s.
	SaveEvery time.Duration
	// Quiet and MaxDefer make forwarding give way to the intake: while
	// deliveries keep arriving less than Quiet apart, a destination waits
	// before it sends the next item of its stream, but never once that item
	// has waited MaxDefer. Defaults 50ms and 5s; MaxDefer < 0 turns it off.
	Quiet, MaxDefer time.Duration
	// OnAttempt, when set, is told of every attempt (metrics): the
	// destination, "delivered", "failed" or "dead", and how long it took.
	OnAttempt func(destination, result string, took time.Duration)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Errors of the forwarder's operations.
var (
	// ErrUnknownDestination is returned for a name that is not configured.
	ErrUnknownDestination = errors.New("unknown forward destination")
	// ErrUnknownItem is returned by Resend for an id that names nothing.
	ErrUnknownItem = errors.New("unknown item")
	// ErrTooMany is returned by Resend for a filter that selects too much.
	ErrTooMany = errors.New("the filter selects more than 100000 items: narrow it (since, event, client_id)")
)

// Forwarder runs the destinations. Its methods are safe for concurrent use.
type Forwarder struct {
	db     *store.DB
	cfg    Config
	dests  []*dest
	byName map[string]*dest

	initMu sync.Mutex
	inited bool
}

// New builds the destinations of cfg over db. It connects to nothing and
// starts no goroutine: Run does.
func New(db *store.DB, cfg Config) (*Forwarder, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Refusals <= 0 {
		cfg.Refusals = 3
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = time.Second
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 50 * time.Millisecond
	}
	if cfg.MaxDefer == 0 {
		cfg.MaxDefer = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Forwarder{db: db, cfg: cfg, byName: map[string]*dest{}}
	for _, d := range cfg.Destinations {
		if d.Timeout <= 0 {
			d.Timeout = 10 * time.Second
		}
		if d.AlertAfter <= 0 {
			d.AlertAfter = 15 * time.Minute
		}
		if d.Subject == "" {
			d.Subject = "robaws.{endpoint}.{event}"
		}
		if d.NATSStream == "" {
			d.NATSStream = "ROBAWS"
		}
		if d.Stream == "" {
			d.Stream = store.StreamEvents
		}
		x, err := newDest(f, d)
		if err != nil {
			return nil, err
		}
		f.dests = append(f.dests, x)
		f.byName[d.Name] = x
	}
	return f, nil
}

// Init sets up every destination's state in the store: a new destination
// starts at its start (now: after the newest item), a removed one's cursor
// is dropped (logged once). Call it before the receiver serves, so that
// "now" is the moment the daemon started; Run calls it when it was not.
func (f *Forwarder) Init(ctx context.Context) error {
	f.initMu.Lock()
	defer f.initMu.Unlock()
	if f.inited {
		return nil
	}
	var all []store.ForwardDestination
	for _, d := range f.dests {
		all = append(all, store.ForwardDestination{Name: d.cfg.Name, Stream: d.cfg.Stream, Beginning: d.cfg.Beginning})
	}
	dropped, err := f.db.InitForward(ctx, all)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	for _, name := range dropped {
		f.cfg.Logger.Info("forward destination no longer configured: its cursor and dead items are dropped", "destination", name)
	}
	f.inited = true
	return nil
}

// Run forwards until ctx ends (after Init), one goroutine per destination,
// and saves the cursors before it returns.
func (f *Forwarder) Run(ctx context.Context) error {
	if err := f.Init(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, d := range f.dests {
		wg.Go(func() { d.run(ctx) })
	}
	wg.Wait()
	return nil
}

func (f *Forwarder) dest(name string) (*dest, error) {
	d, ok := f.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDestination, name)
	}
	return d, nil
}

// Status is one destination's state as GET /api/forward shows it.
type Status struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Stream string `json:"stream"`
	// Target is the URL without userinfo or query string.
	Target string `json:"target"`
	// Status is "ok", "retrying" (the next item waits for another
	// attempt) or "paused".
	Status          string     `json:"status"`
	Pending         int        `json:"pending"`
	OldestPendingAt *time.Time `json:"oldest_pending_at"`
	Delivered       uint64     `json:"delivered"`
	Dead            int        `json:"dead"`
	LastSuccessAt   *time.Time `json:"last_success_at"`
	LastError       *string    `json:"last_error"`
	NextAttemptAt   *time.Time `json:"next_attempt_at"`
	// RetryingSince is when the waiting item's first failed attempt was.
	RetryingSince *time.Time `json:"retrying_since"`
	// AlertAfter is the destination's alert_after, in seconds.
	AlertAfter float64 `json:"alert_after_seconds"`
}

// Statuses lists every destination in config order.
func (f *Forwarder) Statuses() []Status {
	out := make([]Status, 0, len(f.dests))
	for _, d := range f.dests {
		out = append(out, d.status())
	}
	return out
}

// Status returns one destination's state.
func (f *Forwarder) Status(name string) (Status, error) {
	d, err := f.dest(name)
	if err != nil {
		return Status{}, err
	}
	return d.status(), nil
}

// Attempt is one kept attempt (the last 100 per destination).
type Attempt struct {
	At              time.Time `json:"at"`
	ItemID          string    `json:"item_id"`
	LogID           *uint64   `json:"log_id"`
	StatusCode      int       `json:"status_code"`
	DurationMS      float64   `json:"duration_ms"`
	Error           *string   `json:"error"`
	ResponseExcerpt string    `json:"response_excerpt"`
}

// Attempts lists a destination's kept attempts, newest first.
func (f *Forwarder) Attempts(name string) ([]Attempt, error) {
	d, err := f.dest(name)
	if err != nil {
		return nil, err
	}
	return d.attemptsNewestFirst(), nil
}

// Dead lists a destination's dead items, newest first.
func (f *Forwarder) Dead(ctx context.Context, name string) ([]store.ForwardDead, error) {
	if _, err := f.dest(name); err != nil {
		return nil, err
	}
	return f.db.FindForwardDead(ctx, name)
}

// Pause stops a destination; the pause is kept in the database, so it
// survives a restart.
func (f *Forwarder) Pause(ctx context.Context, name string) error {
	return f.SetPaused(ctx, name, true)
}

// Resume lets a paused destination go on, and ends a wait between attempts:
// the next attempt goes at once (the admin fixed the target). It does not
// reset an item's count of refusals.
func (f *Forwarder) Resume(ctx context.Context, name string) error {
	return f.SetPaused(ctx, name, false)
}

// SetPaused pauses (paused true) or resumes a destination.
func (f *Forwarder) SetPaused(ctx context.Context, name string, paused bool) error {
	d, err := f.dest(name)
	if err != nil {
		return err
	}
	return d.setPaused(ctx, paused)
}

// ResendRequest selects items to send again: by id (item ids, or log ids
// of the events stream), every dead item, or a filter over the stream.
type ResendRequest struct {
	IDs      []string
	Dead     bool
	Since    time.Time
	Event    string
	ClientID string
}

// ErrNothingSelected is returned by Resend for a request that names
// nothing.
var ErrNothingSelected = errors.New("say what to resend: ids, dead, or a filter (since, event, client_id)")

// Resend queues the selected items after what is pending and returns how
// many it queued. Items the destination does not forward (another event,
// test data) and unknown ids are left out.
func (f *Forwarder) Resend(ctx context.Context, name string, r ResendRequest) (int, error) {
	d, err := f.dest(name)
	if err != nil {
		return 0, err
	}
	if len(r.IDs) == 0 && !r.Dead && r.Since.IsZero() && r.Event == "" && r.ClientID == "" {
		return 0, ErrNothingSelected
	}
	refs, err := d.resolve(ctx, r)
	if err != nil {
		return 0, err
	}
	n, err := f.db.QueueForward(ctx, name, refs, r.Dead)
	if err != nil {
		return 0, err
	}
	dead, err := f.db.FindForwardDead(ctx, name)
	if err != nil {
		return n, err
	}
	d.queued(n, len(dead))
	return n, nil
}

// Test sends one signed test item to the destination now, beside its
// stream (webhook-id "test:<n>", robaws-event "robaws-edge.test"), and
// returns the target's answer.
func (f *Forwarder) Test(ctx context.Context, name string) (Attempt, error) {
	d, err := f.dest(name)
	if err != nil {
		return Attempt{}, err
	}
	now := f.cfg.Now().UTC()
	n := strconv.FormatInt(now.UnixMilli(), 10)
	body := fmt.Appendf(nil, `{"type":"robaws-edge.test","destination":%q,"at":%q}`, name, now.Format(time.RFC3339Nano))
	it := &store.ForwardItem{ID: "test:" + n, At: now, Endpoint: "test", Event: "robaws-edge.test", Body: body}
	a, _, _ := d.attempt(ctx, it, true)
	return a, nil
}

// Names lists the configured destinations.
func (f *Forwarder) Names() []string {
	out := make([]string, 0, len(f.dests))
	for _, d := range f.dests {
		out = append(out, d.cfg.Name)
	}
	return slices.Clip(out)
}
