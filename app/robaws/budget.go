package robaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request modes of the Robaws API (SPEC §5). Each has a daily budget of its
// own, shared with every other integration of the office.
const (
	// ModeLive is the default: reads and writes on the live database.
	ModeLive = "live"
	// ModeReplica is a read (Database-Mode: replica): eventually consistent,
	// on the replica's own budget.
	ModeReplica = "replica"
)

// ErrBudgetLow is wrapped by a *BudgetError: the daily budget Robaws last
// announced is below robaws.daily_reserve, or used up.
var ErrBudgetLow = errors.New("robaws daily request budget low")

// Budget is what Robaws last announced about one mode's request budget in
// its X-RateLimit-* headers.
type Budget struct {
	// Mode is ModeLive or ModeReplica.
	Mode string `json:"mode"`
	// DailyLimit and DailyRemaining are X-RateLimit-Daily-Limit and
	// X-RateLimit-Daily-Remaining.
	DailyLimit     int `json:"daily_limit"`
	DailyRemaining int `json:"daily_remaining"`
	// DailyResetAt is when the day's budget starts again: the answer's time
	// plus X-RateLimit-Daily-Reset seconds (zero when not announced).
	DailyResetAt time.Time `json:"daily_reset_at"`
	// SecondRemaining is X-RateLimit-Remaining, the per-second budget; -1
	// when not announced.
	SecondRemaining int `json:"second_remaining"`
	// SeenAt is when the answer that announced it arrived.
	SeenAt time.Time `json:"seen_at"`
}

// current reports whether b still says something at now: it was announced
// and its day has not been reset since.
func (b Budget) current(now time.Time) bool {
	return !b.SeenAt.IsZero() && (b.DailyResetAt.IsZero() || now.Before(b.DailyResetAt))
}

// BudgetError is returned by a sync that stops because of the daily budget.
type BudgetError struct {
	Budget  Budget
	Reserve int
	// Exhausted is set when Robaws refused a request (429) because the day's
	// budget is used up, rather than the reserve being reached.
	Exhausted bool
}

func (e *BudgetError) Error() string {
	reset := "an unannounced time"
	if !e.Budget.DailyResetAt.IsZero() {
		reset = e.Budget.DailyResetAt.UTC().Format(time.RFC3339)
	}
	if e.Exhausted {
		return fmt.Sprintf("robaws daily request budget (%s) used up: Robaws refuses requests until it resets at %s", e.Budget.Mode, reset)
	}
	return fmt.Sprintf("robaws daily request budget (%s) low: %d of %d requests left today, below robaws.daily_reserve %d; the sync stops so the office's other integrations keep theirs, until it resets at %s",
		e.Budget.Mode, e.Budget.DailyRemaining, e.Budget.DailyLimit, e.Reserve, reset)
}

func (e *BudgetError) Unwrap() error { return ErrBudgetLow }

// budgets keeps the last Budget per mode and persists it (at most once a
// second per mode, and always when it falls below the reserve), so a
// restart knows it.
type budgets struct {
	mu        sync.Mutex
	byMode    map[string]Budget
	persisted map[string]time.Time
}

// parseBudget reads the X-RateLimit-* headers of an answer received at now;
// ok is false when the answer announces no daily budget.
func parseBudget(h http.Header, mode string, now time.Time) (Budget, bool) {
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Daily-Remaining")))
	if err != nil {
		return Budget{}, false
	}
	b := Budget{Mode: mode, DailyRemaining: remaining, SecondRemaining: -1, SeenAt: now.UTC()}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Daily-Limit"))); err == nil {
		b.DailyLimit = n
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Daily-Reset")), 10, 64); err == nil && n >= 0 {
		b.DailyResetAt = now.Add(time.Duration(n) * time.Second).UTC().Truncate(time.Second)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil {
		b.SecondRemaining = n
	}
	return b, true
}

// budgetKey names a mode's budget in the store.
func budgetKey(mode string) string { return "budget:" + mode }

// loadBudgets reads the persisted budgets; a missing or unreadable one is
// simply unknown.
func (c *Client) loadBudgets(ctx context.Context) {
	c.budgets.byMode = map[string]Budget{}
	c.budgets.persisted = map[string]time.Time{}
	if c.db == nil {
		return
	}
	for _, mode := range []string{ModeLive, ModeReplica} {
		v, err := c.db.RobawsState(ctx, budgetKey(mode))
		var b Budget
		if err != nil || v == nil || json.Unmarshal(v, &b) != nil {
			continue
		}
		c.budgets.byMode[mode] = b
	}
}

// noteBudget records what an answer announced.
func (c *Client) noteBudget(ctx context.Context, h http.Header, mode string) {
	now := c.now()
	b, ok := parseBudget(h, mode, now)
	if !ok {
		return
	}
	c.budgets.mu.Lock()
	c.budgets.byMode[mode] = b
	persist := c.db != nil && (now.Sub(c.budgets.persisted[mode]) >= time.Second || b.DailyRemaining < c.reserve)
	if persist {
		c.budgets.persisted[mode] = b.SeenAt
	}
	c.budgets.mu.Unlock()
	if !persist {
		return
	}
	v, _ := json.Marshal(b)
	if err := c.db.SetRobawsState(context.WithoutCancel(ctx), budgetKey(mode), v); err != nil {
		c.logger.Warn("keep robaws budget", "error", err)
	}
}

// saveBudgets persists every budget noted since its last save; the syncer
// calls it when a sync ends, so the throttle in noteBudget loses nothing.
func (c *Client) saveBudgets(ctx context.Context) {
	if c.db == nil {
		return
	}
	c.budgets.mu.Lock()
	var dirty []Budget
	for mode, b := range c.budgets.byMode {
		if b.SeenAt.After(c.budgets.persisted[mode]) {
			dirty = append(dirty, b)
			c.budgets.persisted[mode] = b.SeenAt
		}
	}
	c.budgets.mu.Unlock()
	for _, b := range dirty {
		v, _ := json.Marshal(b)
		if err := c.db.SetRobawsState(context.WithoutCancel(ctx), budgetKey(b.Mode), v); err != nil {
			c.logger.Warn("keep robaws budget", "error", err)
		}
	}
}

// Budget returns the last budget Robaws announced for mode, and whether one
// was announced at all (persisted across restarts).
func (c *Client) Budget(mode string) (Budget, bool) {
	c.budgets.mu.Lock()
	defer c.budgets.mu.Unlock()
	b, ok := c.budgets.byMode[mode]
	return b, ok
}

// SyncMode is the mode of a sync's requests: ModeReplica with read_replica,
// else ModeLive. Its budget is the one daily_reserve guards.
func (c *Client) SyncMode() string {
	if c.readReplica {
		return ModeReplica
	}
	return ModeLive
}

// Reserve is robaws.daily_reserve: a sync stops below it.
func (c *Client) Reserve() int { return c.reserve }

// BudgetLow returns a *BudgetError when the sync mode's last announced
// budget is below the reserve and its day has not been reset since, else nil.
func (c *Client) BudgetLow() error {
	b, ok := c.Budget(c.SyncMode())
	if !ok || !b.current(c.now()) || b.DailyRemaining >= c.reserve {
		return nil
	}
	return &BudgetError{Budget: b, Reserve: c.reserve, Exhausted: b.DailyRemaining <= 0}
}

// dailyExhausted reports whether a 429 says the day's budget is used up
// (then retrying within seconds is pointless), not only the second's.
func dailyExhausted(h http.Header, body []byte) bool {
	if v := strings.TrimSpace(h.Get("X-RateLimit-Daily-Remaining")); v != "" {
		n, err := strconv.Atoi(v)
		return err == nil && n <= 0
	}
	msg := strings.ToLower(string(body))
	return strings.Contains(msg, "daily") || strings.Contains(msg, "per day")
}

// updatedFromKey names, in the store, the fact that the instance at the
// client's base URL refused updatedFrom, for this binary's version.
func (c *Client) updatedFromKey() string { return "updatedfrom_refused:" + c.base.String() }

// UpdatedFromRefused reports whether this instance answered 400 to
// updatedFrom before, under this version of robaws-edge (an upgrade tries
// again).
func (c *Client) UpdatedFromRefused(ctx context.Context) bool {
	if c.db == nil {
		return c.refusedUpdatedFrom.Load()
	}
	v, err := c.db.RobawsState(ctx, c.updatedFromKey())
	return err == nil && string(v) == c.version
}

// rememberUpdatedFromRefused records that this instance refuses updatedFrom.
func (c *Client) rememberUpdatedFromRefused(ctx context.Context) error {
	c.refusedUpdatedFrom.Store(true)
	if c.db == nil {
		return nil
	}
	return c.db.SetRobawsState(context.WithoutCancel(ctx), c.updatedFromKey(), []byte(c.version))
}

// LastError is the last failed request's error text (credentials redacted),
// "" after a later success or when none failed.
func (c *Client) LastError() string {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}
