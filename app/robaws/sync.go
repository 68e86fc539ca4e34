package robaws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// ErrSyncRunning is returned when a customer sync is started while one runs.
var ErrSyncRunning = errors.New("a customer sync is already running")

// syncLoggedErrors is how many unmappable clients a sync logs one by one.
const syncLoggedErrors = 10

// SyncProgress is the state of the current or last customer sync, as
// served by GET /api/sync.
type SyncProgress struct {
	Running bool `json:"running"`
	// Fetched counts clients received from Robaws.
	Fetched int `json:"fetched"`
	// Total is Robaws' totalItems (0 while unknown).
	Total int `json:"total"`
	// Applied counts customers created or changed.
	Applied int `json:"applied"`
	// Unchanged counts customers already up to date.
	Unchanged int `json:"unchanged"`
	// Stale counts clients older than the stored customer (e.g. a newer
	// webhook), left alone.
	Stale int `json:"stale"`
	// Errors counts clients that could not be mapped (e.g. no id).
	Errors     int        `json:"errors"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Since is the updatedFrom of an incremental sync; null for a full one.
	Since *time.Time `json:"since"`
	// Error is why the last sync stopped early; absent when it succeeded.
	Error string `json:"error,omitempty"`
}

// SyncerConfig configures NewSyncer.
type SyncerConfig struct {
	// Map maps one Robaws client object (an item of a clients page) to a
	// customer, with a zero Version when it has no updatedAt (SPEC §2).
	// Required.
	Map func(data []byte) (*store.Customer, error)
	// Now is the clock for start times and for the version of clients
	// without updatedAt; tests replace it. Default time.Now.
	Now func() time.Time
	// Logger, already scoped by the caller; default discards.
	Logger *slog.Logger
}

// Syncer copies every Robaws client into the customer cache (SPEC §5). One
// sync runs at a time, started in the background with Start (for the API)
// or run synchronously with Run; RunPeriodic reconciles incrementally.
type Syncer struct {
	db     *store.DB
	client *Client
	mapper func(data []byte) (*store.Customer, error)
	now    func() time.Time
	logger *slog.Logger

	mu       sync.Mutex
	progress SyncProgress
	cancel   context.CancelFunc // stops the running sync
	done     chan struct{}      // closed when the running sync ends; nil if none ran
	closed   bool
}

// NewSyncer returns a syncer. client may be nil (no credentials): then
// every sync fails with ErrNoCredentials. It panics without cfg.Map, a
// wiring mistake.
func NewSyncer(db *store.DB, client *Client, cfg SyncerConfig) *Syncer {
	if cfg.Map == nil {
		panic("robaws: NewSyncer without SyncerConfig.Map")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{db: db, client: client, mapper: cfg.Map, now: cfg.Now, logger: cfg.Logger}
}

// errSyncerClosed is returned by Start and Run after Close.
var errSyncerClosed = errors.New("customer sync stopped")

// Start starts a sync in a goroutine owned by the syncer and returns at
// once. A zero since is a full sync; otherwise only clients updated since
// then are fetched. It returns ErrSyncRunning if a sync runs and
// ErrNoCredentials without a Client. Progress reports how it goes;
// Wait waits for it; Close stops it.
func (s *Syncer) Start(since time.Time) error {
	ctx, cancel := context.WithCancel(context.Background())
	done, err := s.begin(since, cancel)
	if err != nil {
		cancel()
		return err
	}
	go func() {
		defer cancel()
		p := s.finish(done, s.run(ctx, since))
		if p.Error != "" && !errors.Is(ctx.Err(), context.Canceled) {
			// Nobody else sees this error but GET /api/sync.
			s.logger.Error("customer sync failed", "fetched", p.Fetched, "applied", p.Applied, "error", p.Error)
		}
	}()
	return nil
}

// Run runs a sync and returns its final progress; the caller handles
// (logs) its error. It returns ErrSyncRunning if a sync already runs,
// ErrNoCredentials without a Client, and the error that stopped it early (with the progress so far).
// Cancelling ctx or Close stops it.
func (s *Syncer) Run(ctx context.Context, since time.Time) (SyncProgress, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done, err := s.begin(since, cancel)
	if err != nil {
		return SyncProgress{}, err
	}
	err = s.run(ctx, since)
	return s.finish(done, err), err
}

// Progress returns the state of the running sync, or of the last one.
func (s *Syncer) Progress() SyncProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress
}

// Wait waits until no sync started before the call is running.
func (s *Syncer) Wait() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Close stops a running sync, waits for it and refuses new ones.
func (s *Syncer) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.progress.Running {
		s.cancel()
	}
	s.mu.Unlock()
	s.Wait()
	return nil
}

// begin claims the single sync slot, keeping cancel for Close, and resets
// the progress.
func (s *Syncer) begin(since time.Time, cancel context.CancelFunc) (chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errSyncerClosed
	case s.progress.Running:
		return nil, ErrSyncRunning
	case s.client == nil:
		return nil, ErrNoCredentials
	}
	now := s.now().UTC()
	s.progress = SyncProgress{Running: true, StartedAt: &now}
	if !since.IsZero() {
		since = since.UTC()
		s.progress.Since = &since
	}
	s.cancel = cancel
	s.done = make(chan struct{})
	return s.done, nil
}

// finish records the outcome, releases the slot and logs a finished or
// cancelled sync; a failure is left to the caller to handle.
func (s *Syncer) finish(done chan struct{}, err error) SyncProgress {
	now := s.now().UTC()
	s.mu.Lock()
	s.progress.Running = false
	s.progress.FinishedAt = &now
	if err != nil {
		s.progress.Error = err.Error()
	}
	p := s.progress
	s.mu.Unlock()
	close(done)
	args := []any{"fetched", p.Fetched, "applied", p.Applied, "unchanged", p.Unchanged,
		"stale", p.Stale, "errors", p.Errors, "duration", now.Sub(*p.StartedAt).Round(time.Millisecond).String()}
	switch {
	case err == nil:
		s.logger.Info("customer sync finished", args...)
	case errors.Is(err, context.Canceled):
		s.logger.Info("customer sync cancelled", args...)
	}
	return p
}

// run fetches the pages one after the other, from 0 until fetched reaches
// totalItems, an empty page, or (when the total is unknown) a short page,
// and applies each in one store call. Robaws serves at most 15 requests/s,
// so the fetch sets the pace and a pipeline would gain nothing. On success
// it records the start time for the next incremental sync.
func (s *Syncer) run(ctx context.Context, since time.Time) error {
	started := *s.Progress().StartedAt
	prev, err := s.db.LastSyncStarted(ctx)
	if err != nil {
		return err
	}
	defer s.client.saveBudgets(ctx)
	if !since.IsZero() && s.client.UpdatedFromRefused(ctx) {
		s.logger.Info("this Robaws instance refuses updatedFrom: running a full sync instead of an incremental one", "since", since.UTC().Format(time.RFC3339))
		since = s.full()
	}
	if since.IsZero() {
		s.logger.Info("customer sync started", "full", true)
	} else {
		s.logger.Info("customer sync started", "full", false, "since", since.UTC().Format(time.RFC3339))
	}
	fetched := 0
	var firstOfPrev []byte
	for page := 0; ; page++ {
		// Before every request: a budget below the reserve stops the sync,
		// so the office's other integrations keep theirs (SPEC §5).
		if err := s.client.BudgetLow(); err != nil {
			return err
		}
		// A client without updatedAt gets the time the request started:
		// the page reflects Robaws at some moment after it, so a webhook
		// signed later than this is newer and wins.
		fetchedAt := s.now().UTC()
		p, err := s.client.ListCustomers(ctx, page, since)
		var rerr *Error
		if page == 0 && !since.IsZero() && errors.As(err, &rerr) && rerr.StatusCode == http.StatusBadRequest {
			// Some instances answer 400 to updatedFrom: run full, and
			// remember it for this instance (SPEC §5).
			s.logger.Warn("Robaws refused updatedFrom: running a full sync, and full syncs from now on for this instance", "error", err)
			if err := s.client.rememberUpdatedFromRefused(ctx); err != nil {
				return err
			}
			since = s.full()
			page = -1
			continue
		}
		if err != nil {
			return err
		}
		if len(p.Items) == 0 {
			break
		}
		// A server that ignores page would make this loop forever.
		if bytes.Equal(firstOfPrev, p.Items[0]) {
			return fmt.Errorf("robaws returned page %d twice", page-1)
		}
		firstOfPrev = p.Items[0]
		fetched += len(p.Items)
		s.mu.Lock()
		s.progress.Fetched = fetched
		s.progress.Total = max(p.TotalItems, 0)
		s.mu.Unlock()
		if err := s.apply(ctx, s.mapPage(p.Items, fetchedAt)); err != nil {
			return err
		}
		if (p.TotalItems >= 0 && fetched >= p.TotalItems) || (p.TotalItems < 0 && len(p.Items) < PageSize) {
			break
		}
	}
	// A sync covers everything since its start only when it also covered
	// the time since the previous successful start: a full sync, or one
	// whose since is not after that start. Otherwise keep the old mark so
	// that the next incremental sync does not skip the gap.
	if since.IsZero() || prev.IsZero() || !since.After(prev) {
		if err := s.db.SetLastSyncStarted(context.WithoutCancel(ctx), started); err != nil {
			return err
		}
	}
	return nil
}

// full turns the running sync into a full one and returns the zero since.
func (s *Syncer) full() time.Time {
	s.mu.Lock()
	s.progress.Since = nil
	s.mu.Unlock()
	return time.Time{}
}

// mapPage maps one page's clients; a client without updatedAt gets
// fetchedAt as its version. Unmappable clients are counted, and the first
// few of a sync logged.
func (s *Syncer) mapPage(items []json.RawMessage, fetchedAt time.Time) []*store.Customer {
	customers := make([]*store.Customer, 0, len(items))
	for _, item := range items {
		c, err := s.mapper(item)
		if err != nil {
			s.mu.Lock()
			s.progress.Errors++
			n := s.progress.Errors
			s.mu.Unlock()
			switch {
			case n < syncLoggedErrors:
				s.logger.Warn("client not synced", "client_id", customer.ID(item), "error", err)
			case n == syncLoggedErrors:
				s.logger.Warn("client not synced; further ones are only counted", "client_id", customer.ID(item), "error", err)
			}
			continue
		}
		if c.Version.IsZero() {
			c.Version = fetchedAt
		}
		customers = append(customers, c)
	}
	return customers
}

// apply stores one page (source sync, never overwriting a newer version).
func (s *Syncer) apply(ctx context.Context, customers []*store.Customer) error {
	if len(customers) == 0 {
		return nil
	}
	applied, unchanged, stale, err := s.db.ApplyCustomers(ctx, customers, store.SourceSync)
	if err != nil {
		return fmt.Errorf("apply synced customers: %w", err)
	}
	s.mu.Lock()
	s.progress.Applied += applied
	s.progress.Unchanged += unchanged
	s.progress.Stale += stale
	s.mu.Unlock()
	return nil
}

// RunPeriodic runs an incremental sync every interval until ctx is done,
// with updatedFrom = the start of the last successful sync (a full sync if
// none succeeded yet). The first sync runs when the last successful one is
// an interval old (at once on a fresh install); after a failure it retries
// after min(interval, 15m). A sync already running (e.g. started through
// the API) is not doubled: that turn is skipped. It blocks; the caller owns
// the goroutine. It returns ctx.Err(), or nil at once when interval <= 0 or
// there are no credentials.
func (s *Syncer) RunPeriodic(ctx context.Context, interval time.Duration) error {
	if interval <= 0 || s.client == nil {
		return nil
	}
	retry := min(interval, 15*time.Minute)
	for {
		last, err := s.db.LastSyncStarted(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.logger.Error("read last sync start", "error", err)
			last = time.Time{}
		}
		wait := time.Duration(0)
		if !last.IsZero() {
			// At most an interval, even if the clock was set back.
			wait = min(last.Add(interval).Sub(s.now()), interval)
		}
		if err := sleepContext(ctx, wait); err != nil {
			return err
		}
		_, err = s.Run(ctx, last)
		switch {
		case err == nil:
			continue // the next turn waits from the new start time
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errSyncerClosed):
			return nil
		case errors.Is(err, context.Canceled):
			continue // stopped by Close: the next Run says so
		case errors.Is(err, ErrSyncRunning):
			s.Wait()
			continue
		}
		var berr *BudgetError
		if errors.As(err, &berr) && !berr.Budget.DailyResetAt.IsZero() {
			// Retrying into the limit spends what the office's other
			// integrations need: wait for the day's reset instead.
			wait := max(berr.Budget.DailyResetAt.Sub(s.now()), 0) + time.Minute
			s.logger.Warn("periodic customer sync waits for the Robaws daily budget to reset", "retry_in", wait.Round(time.Second).String(), "error", err)
			if err := sleepContext(ctx, wait); err != nil {
				return err
			}
			continue
		}
		s.logger.Error("periodic customer sync failed", "retry_in", retry.String(), "error", err)
		if err := sleepContext(ctx, retry); err != nil {
			return err
		}
	}
}
