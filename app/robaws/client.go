// Package robaws talks to Robaws' REST API (SPEC §5): one Client per
// tenant with its auth, its pace (requests_per_second) and the daily
// budget Robaws announces on every answer (budget.go); the Registrar keeps
// the webhook registrations at Robaws and their secrets in the store in
// step, re-registering when the public URL changes (register.go); the
// Syncer fills the customer cache from the clients list, in full or since
// the last sync, within the budget's reserve (sync.go).
package robaws

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jpillora/backoff"
	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
	"golang.org/x/time/rate"
)

// ErrNoCredentials is returned by New when neither robaws.username and
// robaws.password nor robaws.api_key are set, and by the registrar and the
// syncer when they have no Robaws client.
var ErrNoCredentials = errors.New("no Robaws credentials configured (set robaws.username and robaws.password, or robaws.api_key)")

// ErrUnreachable wraps transport failures talking to Robaws (the
// local API answers 502).
var ErrUnreachable = errors.New("robaws unreachable")

// Robaws API limits and defaults (SPEC §5).
const (
	// PageSize is the page size of GET /api/v2/clients.
	PageSize = 100
	// maxRetries is how many times a rate-limited request is retried.
	maxRetries = 5
	// maxRetryAfter is the longest Retry-After we wait for; a longer
	// one fails the request at once rather than stalling for hours.
	maxRetryAfter = 10 * time.Minute
	// maxBody caps a response body read into memory.
	maxBody = 32 << 20
	// maxMessage caps the Robaws error text put into an error.
	maxMessage = 300
)

// Config configures New.
type Config struct {
	// BaseURL is the Robaws installation; default "https://app.robaws.com".
	// It must not carry credentials.
	BaseURL string
	// Username and Password select HTTP basic auth (an API-only Robaws
	// user). Both are required together.
	Username, Password string
	// APIKey selects "Authorization: Bearer <api_key>"; it wins over
	// Username/Password when both are set.
	APIKey string
	// RequestsPerSecond caps the request rate, retries included, with no
	// burst (requests are spaced 1/RequestsPerSecond apart); default 10.
	RequestsPerSecond float64
	// Version goes into the User-Agent "robaws-edge/<version>"; default "dev".
	Version string
	// HTTPClient; default a client with a 60 s timeout.
	HTTPClient *http.Client
	// Logger; default discards.
	Logger *slog.Logger
	// ReadReplica sends the sync's GETs with "Database-Mode: replica"
	// (robaws.read_replica); registration calls always go live.
	ReadReplica bool
	// DailyReserve is robaws.daily_reserve: a sync stops when fewer requests
	// than this are left today. 0 never holds a sync back.
	DailyReserve int
	// DB, when set, keeps the last announced budgets and the instances that
	// refused updatedFrom across restarts.
	DB *store.DB
	// Now is the clock for budgets; tests replace it. Default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done (then returning ctx.Err()) before
	// a 429 is retried; tests replace it. Default a real timer. (The rate
	// limit's spacing is waited for by the limiter itself.)
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client is an HTTP client of the Robaws REST API (SPEC §5): webhook
// registrations and the list of Robaws clients (customers). It is safe for
// concurrent use; all callers share one rate limit.
type Client struct {
	base      *url.URL
	auth      string // the Authorization header value
	redact    []string
	userAgent string
	http      *http.Client
	logger    *slog.Logger
	sleep     func(ctx context.Context, d time.Duration) error
	limit     *rate.Limiter

	version     string
	readReplica bool
	reserve     int
	db          *store.DB
	now         func() time.Time
	budgets     budgets
	lastErr     atomic.Pointer[string]
	// refusedUpdatedFrom remembers a 400 to updatedFrom without a DB.
	refusedUpdatedFrom atomic.Bool
}

// New returns a Robaws API client. It returns ErrNoCredentials (wrapped
// when only half of a username/password pair is set) and an error for a
// base URL that is not an absolute http(s) URL or carries credentials.
func New(cfg Config) (*Client, error) {
	var auth string
	var redact []string
	switch {
	case cfg.APIKey != "":
		auth = "Bearer " + cfg.APIKey
		redact = []string{cfg.APIKey}
	case cfg.Username != "" && cfg.Password != "":
		token := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		auth = "Basic " + token
		redact = []string{cfg.Password, token}
	case cfg.Username != "":
		return nil, fmt.Errorf("robaws.password missing for robaws.username: %w", ErrNoCredentials)
	case cfg.Password != "":
		return nil, fmt.Errorf("robaws.username missing for robaws.password: %w", ErrNoCredentials)
	default:
		return nil, ErrNoCredentials
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://app.robaws.com"
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	switch {
	case err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "":
		// url.Parse errors quote the input; it could hold a password.
		return nil, errors.New("robaws.base_url must be an absolute http(s) URL")
	case base.User != nil:
		return nil, errors.New("robaws.base_url must not contain credentials; use robaws.username/password or robaws.api_key")
	}
	if cfg.RequestsPerSecond <= 0 {
		cfg.RequestsPerSecond = 10
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{
		base:      base,
		auth:      auth,
		redact:    redact,
		userAgent: "robaws-edge/" + cfg.Version,
		http:      cfg.HTTPClient,
		logger:    cfg.Logger,
		sleep:     cfg.Sleep,
		// Burst 1: no burst, as SPEC §5's requests_per_second is a ceiling.
		limit: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), 1),

		version:     cfg.Version,
		readReplica: cfg.ReadReplica,
		reserve:     max(cfg.DailyReserve, 0),
		db:          cfg.DB,
		now:         cfg.Now,
	}
	c.loadBudgets(context.Background())
	return c, nil
}

// Webhook is one webhook registration at Robaws. Secret is only set by
// RegisterWebhook; it is excluded from JSON, String and slog output.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"-"`
}

// String describes w without its secret.
func (w Webhook) String() string {
	return fmt.Sprintf("webhook %s %s %v", w.ID, w.URL, w.Events)
}

// LogValue logs w without its secret.
func (w Webhook) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", w.ID), slog.String("url", w.URL), slog.Any("events", w.Events))
}

// webhookJSON is a registration as Robaws sends it; id may be a
// number or a string.
type webhookJSON struct {
	ID     json.RawMessage `json:"id"`
	URL    string          `json:"url"`
	Events []string        `json:"events"`
	Secret string          `json:"secret"`
}

func (j *webhookJSON) webhook() Webhook {
	return Webhook{ID: customer.Text(j.ID), URL: j.URL, Events: j.Events, Secret: j.Secret}
}

// Error is an error answer from Robaws other than a retried 429. Its
// text holds the request, the status and Robaws' message, never credentials.
type Error struct {
	Method     string
	Path       string
	StatusCode int
	// Message is Robaws' explanation: the message, error, detail or title
	// of a JSON answer, else the trimmed text; capped at 300 characters.
	Message string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("robaws: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// RegisterWebhook registers url for events (POST /api/v2/webhook-endpoints)
// and returns the registration with its signing secret. The caller must
// store the secret at once and never show it.
func (c *Client) RegisterWebhook(ctx context.Context, url string, events []string) (*Webhook, error) {
	if events == nil {
		events = []string{}
	}
	body, err := json.Marshal(map[string]any{"url": url, "events": events})
	if err != nil {
		return nil, err
	}
	data, err := c.do(ctx, http.MethodPost, "/api/v2/webhook-endpoints", nil, body)
	if err != nil {
		return nil, err
	}
	var j webhookJSON
	if err := json.Unmarshal(data, &j); err != nil {
		// json errors quote at most a character, never the secret.
		return nil, fmt.Errorf("robaws: POST /api/v2/webhook-endpoints: decode answer: %w", err)
	}
	w := j.webhook()
	if w.ID == "" {
		return nil, errors.New("robaws: POST /api/v2/webhook-endpoints: answer has no id")
	}
	if w.URL == "" {
		w.URL = url
	}
	if len(w.Events) == 0 {
		w.Events = events
	}
	return &w, nil
}

// ListWebhooks returns the registrations of this Robaws account (GET
// /api/v2/webhook-endpoints), accepting a JSON array or {"items": […]}.
// Secrets are not returned.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	data, err := c.do(ctx, http.MethodGet, "/api/v2/webhook-endpoints", nil, nil)
	if err != nil {
		return nil, err
	}
	items, _, err := decodeList(data)
	if err != nil {
		return nil, fmt.Errorf("robaws: GET /api/v2/webhook-endpoints: %w", err)
	}
	out := make([]Webhook, 0, len(items))
	for _, raw := range items {
		var j webhookJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("robaws: GET /api/v2/webhook-endpoints: decode item: %w", err)
		}
		w := j.webhook()
		w.Secret = ""
		out = append(out, w)
	}
	return out, nil
}

// DeleteWebhook deletes registration id (DELETE
// /api/v2/webhook-endpoints/{id}). A registration that does not exist
// (404) is not an error: what the caller wants, its absence, holds.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("robaws: delete webhook: id required")
	}
	_, err := c.do(ctx, http.MethodDelete, "/api/v2/webhook-endpoints/"+url.PathEscape(id), nil, nil)
	var re *Error
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil
	}
	return err
}

// CustomersPage is one page of GET /api/v2/clients.
type CustomersPage struct {
	// Items are the client objects as received.
	Items []json.RawMessage
	// TotalItems is Robaws' totalItems, or -1 when the answer does not say
	// (a bare JSON array or no totalItems field).
	TotalItems int
}

// ListCustomers returns page (0-based) of the clients sorted by id, 100 per
// page; a non-zero updatedFrom only returns clients updated since then
// (sent as RFC 3339 UTC, whole seconds, rounded down).
func (c *Client) ListCustomers(ctx context.Context, page int, updatedFrom time.Time) (CustomersPage, error) {
	q := url.Values{}
	q.Set("page", strconv.Itoa(page))
	q.Set("size", strconv.Itoa(PageSize))
	q.Set("sort", "id:asc")
	if !updatedFrom.IsZero() {
		q.Set("updatedFrom", updatedFrom.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	data, err := c.doMode(ctx, c.SyncMode(), http.MethodGet, "/api/v2/clients", q, nil)
	if err != nil {
		return CustomersPage{}, err
	}
	items, total, err := decodeList(data)
	if err != nil {
		return CustomersPage{}, fmt.Errorf("robaws: GET /api/v2/clients page %d: %w", page, err)
	}
	return CustomersPage{Items: items, TotalItems: total}, nil
}

// decodeList accepts a JSON array or an object with "items" and an
// optional "totalItems" (-1 when absent).
func decodeList(data []byte) ([]json.RawMessage, int, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, 0, fmt.Errorf("decode list: %w", err)
		}
		return items, -1, nil
	}
	var page struct {
		Items      []json.RawMessage `json:"items"`
		TotalItems *int              `json:"totalItems"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, 0, fmt.Errorf("decode list: %w", err)
	}
	total := -1
	if page.TotalItems != nil {
		total = *page.TotalItems
	}
	return page.Items, total, nil
}

// do sends one request, waiting for the rate limit, and retries it on 429
// up to maxRetries times, waiting Retry-After or else backing off
// exponentially (1 s, 2 s, 4 s, 8 s, 16 s). It returns the body of a 2xx
// answer, an *Error for any other status, or a transport error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	return c.doMode(ctx, ModeLive, method, path, query, body)
}

// doMode is do in mode (ModeReplica sends "Database-Mode: replica"). It
// notes the budget every answer announces, and keeps the last error.
func (c *Client) doMode(ctx context.Context, mode, method, path string, query url.Values, body []byte) ([]byte, error) {
	data, err := c.send(ctx, mode, method, path, query, body)
	if err != nil && ctx.Err() == nil {
		msg := err.Error()
		c.lastErr.Store(&msg)
	} else if err == nil {
		c.lastErr.Store(nil)
	}
	return data, err
}

func (c *Client) send(ctx context.Context, mode, method, path string, query url.Values, body []byte) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	for attempt := 0; ; attempt++ {
		if err := c.limit.Wait(ctx); err != nil {
			// Wait fails when ctx ends (or would end before the slot).
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("robaws: %s %s: %w", method, path, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("robaws: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.userAgent)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if mode == ModeReplica {
			req.Header.Set("Database-Mode", "replica")
		}
		start := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			// *url.Error names the URL, which holds no credentials (New
			// refuses them in base_url).
			return nil, fmt.Errorf("robaws: %s %s: %w: %w", method, path, ErrUnreachable, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		c.noteBudget(ctx, resp.Header, mode)
		c.logger.Debug("robaws request", "method", method, "path", path, "status", resp.StatusCode,
			"attempt", attempt+1, "duration_ms", time.Since(start).Milliseconds())
		if err != nil {
			return nil, fmt.Errorf("robaws: %s %s: read answer: %w", method, path, err)
		}
		if len(data) > maxBody {
			return nil, fmt.Errorf("robaws: %s %s: answer larger than %d bytes", method, path, maxBody)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return data, nil
		}
		rerr := &Error{Method: method, Path: path, StatusCode: resp.StatusCode, Message: c.message(data)}
		if resp.StatusCode != http.StatusTooManyRequests || attempt >= maxRetries {
			return nil, rerr
		}
		if dailyExhausted(resp.Header, data) {
			// Retrying within seconds cannot help until the day resets.
			b, _ := c.Budget(mode)
			b.Mode = mode
			return nil, fmt.Errorf("%w (%w)", &BudgetError{Budget: b, Reserve: c.reserve, Exhausted: true}, rerr)
		}
		wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			wait = retryBackoff.ForAttempt(float64(attempt))
		}
		if wait > maxRetryAfter {
			rerr.Message = strings.TrimSpace(rerr.Message + " (Retry-After " + wait.Round(time.Second).String() + ")")
			return nil, rerr
		}
		c.logger.Warn("robaws rate limit, retrying", "method", method, "path", path, "retry_in", wait.String(), "attempt", attempt+1)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryBackoff is the wait before retry n (0-based) of a 429 without
// Retry-After: 1 s doubling, 16 s at the fifth.
var retryBackoff = backoff.Backoff{Min: time.Second, Max: time.Second << (maxRetries - 1), Factor: 2}

// message extracts Robaws' explanation from an error body: the first of
// message, error, detail, title (or errors[0]) of a JSON object, else the
// text, unless it is HTML. It is capped and any credential is redacted.
func (c *Client) message(body []byte) string {
	body = bytes.TrimSpace(body)
	var msg string
	var obj map[string]json.RawMessage
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &obj) == nil {
		msg = objectMessage(obj)
		if msg == "" {
			msg = firstError(obj["errors"])
		}
	} else if len(body) > 0 && body[0] != '<' {
		msg = string(body)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	for _, s := range c.redact {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// objectMessage returns the first text of message, error, detail, title or
// error_description, looking one level into an object value
// ({"error": {"message": …}}).
func objectMessage(obj map[string]json.RawMessage) string {
	for _, k := range []string{"message", "error", "detail", "title", "error_description"} {
		if s := customer.Text(obj[k]); s != "" {
			return s
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(obj[k], &inner) == nil {
			for _, k := range []string{"message", "detail", "title"} {
				if s := customer.Text(inner[k]); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

// firstError reads errors: ["text", …] or [{"message": "text"}, …].
func firstError(raw json.RawMessage) string {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return ""
	}
	if s := customer.Text(list[0]); s != "" {
		return s
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(list[0], &obj) == nil {
		return objectMessage(obj)
	}
	return ""
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second)+1 {
			return maxRetryAfter + time.Second, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepContext waits d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
