package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// ErrNotAnswering is returned (wrapped) by Client when nothing answers at the
// daemon's address: the daemon is not running, or listens elsewhere.
var ErrNotAnswering = errors.New("no answer")

// APIError is an error answer of the local API.
type APIError struct {
	// Code is the HTTP status: 400 bad parameter, 401 token, 404 unknown
	// id, 409 conflict, 500.
	Code int
	// Message is the answer's "error" text.
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Client is the Go client of the local API, used by the CLI and tests. It
// shares the API's types with the handlers.
type Client struct {
	// BaseURL is the API's root, e.g. "http://127.0.0.1:8787". Required.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>" when not empty.
	Token string
	// HTTPClient defaults to a client with no overall timeout: bound calls
	// with their ctx (a backup may take a while).
	HTTPClient *http.Client
}

// NewClient returns a client for the API listening on addr (admin.listen,
// host:port). An unspecified host (0.0.0.0, ::, "") is reached on loopback.
func NewClient(addr, token string) *Client {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		addr = net.JoinHostPort(host, port)
	}
	return &Client{BaseURL: "http://" + addr, Token: token}
}

// Health returns GET /api/health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	return call[Health](ctx, c, http.MethodGet, "/api/health", nil, nil)
}

// LogEntries returns one page of the webhook log.
func (c *Client) LogEntries(ctx context.Context, f store.LogFilter) (*Page[*store.LogEntry], error) {
	q := logQuery(f)
	setPage(q, f.Limit, f.Cursor)
	return call[Page[*store.LogEntry]](ctx, c, http.MethodGet, "/api/webhook-logs", q, nil)
}

// logQuery is the query of the log list's filters.
func logQuery(f store.LogFilter) url.Values {
	q := url.Values{}
	set(q, "event", f.Event)
	set(q, "status", f.Status)
	set(q, "endpoint", f.Endpoint)
	set(q, "client_id", f.ClientID)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	return q
}

// Follow reads GET /api/webhook-logs/stream with f's filters and calls fn
// with each new or changed log entry until ctx ends, fn returns an error or
// the stream does (then it returns io.ErrUnexpectedEOF: the daemon went
// away). opened, when set, runs once the daemon answered: from then on it
// follows the log for this call. The HTTP client's timeout must not bound
// the stream: Follow uses a client of its own without one.
func (c *Client) Follow(ctx context.Context, f store.LogFilter, opened func(), fn func(*store.LogEntry) error) error {
	q := logQuery(f)
	stream := *c
	stream.HTTPClient = &http.Client{}
	if c.HTTPClient != nil {
		stream.HTTPClient.Transport = c.HTTPClient.Transport
	}
	resp, err := stream.send(ctx, http.MethodGet, "/api/webhook-logs/stream", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if opened != nil {
		opened() // the daemon answers once it follows the log for us
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue // comments and blank lines
		}
		var ev store.LogEntry
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("read log stream: %w", err)
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read log stream: %w", err)
	}
	return io.ErrUnexpectedEOF
}

// LogEntry returns log entry id with its payload. A missing entry is an
// *APIError with Code 404.
func (c *Client) LogEntry(ctx context.Context, id uint64) (*LogEntryDetail, error) {
	return call[LogEntryDetail](ctx, c, http.MethodGet, "/api/webhook-logs/"+strconv.FormatUint(id, 10), nil, nil)
}

// Replay processes log entry id again.
func (c *Client) Replay(ctx context.Context, id uint64) (*ReplayAnswer, error) {
	return call[ReplayAnswer](ctx, c, http.MethodPost, "/api/webhook-logs/"+strconv.FormatUint(id, 10)+"/replay", nil, nil)
}

// ReplayAll replays every log entry with status ("failed" or "rejected").
func (c *Client) ReplayAll(ctx context.Context, status string) (*ReplaySummary, error) {
	return call[ReplaySummary](ctx, c, http.MethodPost, "/api/webhook-logs/replay", url.Values{"status": {status}}, nil)
}

// Customers returns one page of customers sorted by name, without raw.
func (c *Client) Customers(ctx context.Context, f store.CustomerFilter) (*Page[*store.Customer], error) {
	q := url.Values{}
	set(q, "q", f.Q)
	set(q, "role", f.Role)
	set(q, "pricing_code", f.PricingCode)
	if f.Active != nil {
		q.Set("active", strconv.FormatBool(*f.Active))
	}
	if f.Test {
		q.Set("test", "true")
	}
	setPage(q, f.Limit, f.Cursor)
	return call[Page[*store.Customer]](ctx, c, http.MethodGet, "/api/customers", q, nil)
}

// Customer returns one customer with raw.
func (c *Client) Customer(ctx context.Context, id string) (*store.Customer, error) {
	return call[store.Customer](ctx, c, http.MethodGet, "/api/customers/"+url.PathEscape(id), nil, nil)
}

// History returns one page of history, newest first: one customer's
// (f.CustomerID set, /api/customers/{id}/history) or across customers
// (/api/changes, with f.Field and f.Since).
func (c *Client) History(ctx context.Context, f store.HistoryFilter) (*Page[*store.HistoryEntry], error) {
	q := url.Values{}
	path := "/api/changes"
	if f.CustomerID != "" {
		path = "/api/customers/" + url.PathEscape(f.CustomerID) + "/history"
	} else {
		set(q, "field", f.Field)
		setTime(q, "since", f.Since)
	}
	setPage(q, f.Limit, f.Cursor)
	return call[Page[*store.HistoryEntry]](ctx, c, http.MethodGet, path, q, nil)
}

// Webhooks returns the config secrets and stored secrets.
func (c *Client) Webhooks(ctx context.Context) ([]*Webhook, error) {
	out, err := call[Page[*Webhook]](ctx, c, http.MethodGet, "/api/webhooks", nil, nil)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// CreateWebhook adds a known secret.
func (c *Client) CreateWebhook(ctx context.Context, req CreateWebhookRequest) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodPost, "/api/webhooks", nil, req)
}

// DeleteWebhook deactivates a stored secret.
func (c *Client) DeleteWebhook(ctx context.Context, id string) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodDelete, "/api/webhooks/"+url.PathEscape(id), nil, nil)
}

// PurgeWebhook deactivates stored secret id and removes it for good
// (DELETE /api/webhooks/{id}?purge=true).
func (c *Client) PurgeWebhook(ctx context.Context, id string) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodDelete, "/api/webhooks/"+url.PathEscape(id), url.Values{"purge": {"true"}}, nil)
}

// Backup copies a consistent snapshot of the database to w and returns its
// size. It fails when fewer bytes arrive than announced.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("backup: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// call sends a request with an optional JSON body and decodes the JSON
// answer as a T.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, body any) (*T, error) {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out T
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return &out, nil
}

// send performs the request and turns error answers into *APIError and
// connection failures into ErrUnreachable.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u := c.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w on %s: %w", ErrNotAnswering, req.URL.Host, err)
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e errorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return nil, &APIError{Code: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

func set(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
}

func setPage(q url.Values, limit int, cursor string) {
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	set(q, "cursor", cursor)
}

// RegisterWebhook registers a webhook endpoint at Robaws through the
// daemon, which stores the returned secret.
func (c *Client) RegisterWebhook(ctx context.Context, req RegisterWebhookRequest) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodPost, "/api/webhooks/register", nil, req)
}

// DeleteWebhookRemote deactivates a stored registration and deletes it at
// Robaws.
func (c *Client) DeleteWebhookRemote(ctx context.Context, id string) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodDelete, "/api/webhooks/"+url.PathEscape(id), url.Values{"remote": {"true"}}, nil)
}

// StartSync starts a customer sync (incremental from since when set).
func (c *Client) StartSync(ctx context.Context, since *time.Time) (*robaws.SyncProgress, error) {
	return call[robaws.SyncProgress](ctx, c, http.MethodPost, "/api/sync/customers", nil, SyncRequest{Since: since})
}

// Sync returns the progress of the running or last sync.
func (c *Client) Sync(ctx context.Context) (*robaws.SyncProgress, error) {
	return call[robaws.SyncProgress](ctx, c, http.MethodGet, "/api/sync", nil, nil)
}

// Forward lists the forwarding destinations (GET /api/forward).
func (c *Client) Forward(ctx context.Context) ([]forward.Status, error) {
	p, err := call[Page[forward.Status]](ctx, c, "GET", "/api/forward", nil, nil)
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

// ForwardAttempts lists a destination's kept attempts, newest first.
func (c *Client) ForwardAttempts(ctx context.Context, name string) ([]forward.Attempt, error) {
	p, err := call[Page[forward.Attempt]](ctx, c, "GET", "/api/forward/"+url.PathEscape(name)+"/attempts", nil, nil)
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

// ForwardDead lists a destination's dead items, newest first.
func (c *Client) ForwardDead(ctx context.Context, name string) ([]DeadItem, error) {
	p, err := call[Page[DeadItem]](ctx, c, "GET", "/api/forward/"+url.PathEscape(name)+"/dead", nil, nil)
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

// ForwardPause pauses (pause true) or resumes a destination.
func (c *Client) ForwardPause(ctx context.Context, name string, pause bool) (*forward.Status, error) {
	verb := "/resume"
	if pause {
		verb = "/pause"
	}
	return call[forward.Status](ctx, c, "POST", "/api/forward/"+url.PathEscape(name)+verb, nil, nil)
}

// ForwardResend queues items to send again.
func (c *Client) ForwardResend(ctx context.Context, name string, req ResendRequest) (*ResendAnswer, error) {
	return call[ResendAnswer](ctx, c, "POST", "/api/forward/"+url.PathEscape(name)+"/resend", nil, req)
}

// ForwardTest sends one test item and returns the target's answer.
func (c *Client) ForwardTest(ctx context.Context, name string) (*forward.Attempt, error) {
	return call[forward.Attempt](ctx, c, "POST", "/api/forward/"+url.PathEscape(name)+"/test", nil, nil)
}
