package app

import (
	"encoding/json"
	"time"

	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// This file holds the JSON shapes of the local API (SPEC §4), the answers
// and the request bodies of every route in the order local.go lists them,
// shared by the handlers and Client (like miniflux's api/payload.go). Log
// entries, customers and history entries are the store's own types, whose
// JSON tags are the API's.

// Tunnel states reported by /api/health.
const (
	TunnelOnline   = "online"
	TunnelOffline  = "offline"
	TunnelDisabled = "disabled"
)

// TunnelStatus is what LocalConfig.Tunnel reports about the tunnel.
type TunnelStatus struct {
	// Provider is "ngrok", or "none" when no tunnel is configured.
	Provider string
	// Status is TunnelOnline, TunnelOffline or TunnelDisabled.
	Status string
	// PublicURL is the tunnel's URL while online, else "".
	PublicURL string
	// Error is the tunnel's last error, redacted; "" when none.
	Error string
}

// Page is one page of a list: newest first unless a route says otherwise.
// NextCursor is null on the last page; pass it as cursor to get the next.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// statuses are the stored log statuses, in the order the API lists them.
var statuses = []string{store.StatusProcessed, store.StatusFailed, store.StatusIgnored, store.StatusStale, store.StatusRejected}

// Health is GET /api/health. Status is "degraded" exactly when Problems is
// not empty, else "ok".
type Health struct {
	Status        string    `json:"status"`
	Problems      []Problem `json:"problems"`
	Version       string    `json:"version"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	// LastDeliveryAt is when the newest log entry last got a delivery.
	LastDeliveryAt *time.Time     `json:"last_delivery_at"`
	Tunnel         HealthTunnel   `json:"tunnel"`
	Receiver       HealthReceiver `json:"receiver"`
	Robaws         HealthRobaws   `json:"robaws"`
	DB             HealthDB       `json:"db"`
}

// HealthRobaws is the Robaws API part of Health: the daily budget Robaws
// last announced for the sync's mode (null until it announced one) and the
// last failed request's error.
type HealthRobaws struct {
	Configured     bool       `json:"configured"`
	DailyLimit     *int       `json:"daily_limit"`
	DailyRemaining *int       `json:"daily_remaining"`
	DailyResetAt   *time.Time `json:"daily_reset_at"`
	LastError      *string    `json:"last_error"`
}

// Problem is one thing that stops deliveries from arriving or being kept
// (SPEC §4.1). Message says what is wrong and what to do, in one sentence.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HealthTunnel is the tunnel part of Health.
type HealthTunnel struct {
	// Provider is "ngrok", or "none" when no tunnel is configured.
	Provider string `json:"provider"`
	// Status is TunnelOnline, TunnelOffline or TunnelDisabled.
	Status string `json:"status"`
	// PublicURL is null while the tunnel is not online.
	PublicURL *string `json:"public_url"`
	// Error is the tunnel's last error (redacted), null when none.
	Error *string `json:"error"`
}

// HealthReceiver is the receiver part of Health; Listen is null when the
// receiver has no local listener (tunnel only).
type HealthReceiver struct {
	Listen *string `json:"listen"`
}

// HealthDB is the database part of Health.
type HealthDB struct {
	Path      string `json:"path"`
	SizeBytes int64  `json:"size_bytes"`
}

// Stats is GET /api/stats.
type Stats struct {
	Deliveries DeliveryStats `json:"deliveries"`
	Customers  CustomerStats `json:"customers"`
	// RejectedDropped counts rejected deliveries not logged because of
	// receiver.rejected_per_minute, since the daemon started.
	RejectedDropped int64 `json:"rejected_dropped"`
}

// DeliveryStats counts the log entries kept (a duplicate delivery counts on
// its original entry). ByStatus always lists the five statuses.
type DeliveryStats struct {
	Total          int64            `json:"total"`
	ByStatus       map[string]int64 `json:"by_status"`
	ByEvent        map[string]int64 `json:"by_event"`
	LastReceivedAt *time.Time       `json:"last_received_at"`
	Last24h        RecentStats      `json:"last_24h"`
}

// RecentStats counts the log entries received in the last 24 hours.
type RecentStats struct {
	Total    int64            `json:"total"`
	ByStatus map[string]int64 `json:"by_status"`
}

// CustomerStats counts the cached customers; ByRole uses store.NoRole
// ("none") for customers without a role.
type CustomerStats struct {
	Total  int64            `json:"total"`
	ByRole map[string]int64 `json:"by_role"`
}

// LogEntryDetail is GET /api/webhook-logs/{id}: the log entry plus its body,
// as JSON in Payload, as text in PayloadText when it is valid UTF-8 but not
// JSON, or else base64-encoded in PayloadBase64 (encoding/json encodes a
// []byte so). All three are absent when no body is kept (the quarantine
// dropped it).
type LogEntryDetail struct {
	store.LogEntry
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadText   *string         `json:"payload_text,omitempty"`
	PayloadBase64 []byte          `json:"payload_base64,omitempty"`
}

// ReplayAnswer is POST /api/webhook-logs/{id}/replay: the outcome of
// processing the entry again, the receiver's own Outcome (SPEC §1). The
// alias lets Client's callers name it without importing intake.
type ReplayAnswer = intake.Outcome

// ReplaySummary is POST /api/webhook-logs/replay?status=…: how many entries
// were replayed and their statuses afterwards. Skipped counts the entries
// that could not be replayed (no payload kept, endpoint no longer
// configured).
type ReplaySummary struct {
	Replayed int            `json:"replayed"`
	ByStatus map[string]int `json:"by_status"`
	Skipped  int            `json:"skipped"`
}

// Webhook sources (SPEC §4: exactly these words).
const (
	SourceConfig     = "config"
	SourceRegistered = "registered"
)

// Webhook.AddedBy values: the config file, Robaws' answer to a
// registration, or a person who pasted the secret (store.AddedByRobaws,
// store.AddedByHand).
const (
	AddedByConfig = "config"
	AddedByRobaws = store.AddedByRobaws
	AddedByHand   = store.AddedByHand
)

// Webhook is one item of GET /api/webhooks: a config secret or a stored one
// (registered with Robaws or added by hand). The secret itself never leaves
// the daemon; SecretHint shows its last four characters.
type Webhook struct {
	// ID is "config:<endpoint>#<n>" for config secrets, else the stored
	// secret's number.
	ID        string   `json:"id"`
	Endpoint  string   `json:"endpoint"`
	WebhookID *string  `json:"webhook_id"`
	URL       *string  `json:"url"`
	Events    []string `json:"events"`
	Active    bool     `json:"active"`
	Source    string   `json:"source"`
	// AddedBy tells stored secrets apart, which Source calls alike
	// "registered": "robaws" (Robaws gave it when robaws-edge registered),
	// "hand" (pasted with webhooks add or the console), "config" for a
	// config secret; null for secrets stored before it was recorded.
	AddedBy    *string    `json:"added_by"`
	CreatedAt  *time.Time `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	SecretHint string     `json:"secret_hint"`
}

// CreateWebhookRequest is the body of POST /api/webhooks: a secret known
// from elsewhere (e.g. a registration made by hand in Robaws).
type CreateWebhookRequest struct {
	Endpoint  string `json:"endpoint"`
	Secret    string `json:"secret"`
	WebhookID string `json:"webhook_id,omitempty"`
	URL       string `json:"url,omitempty"`
}

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

// DeadItem is an item a destination set aside (GET /api/forward/{name}/dead).
type DeadItem struct {
	ItemID         string    `json:"item_id"`
	LogID          *uint64   `json:"log_id"`
	DeadAt         time.Time `json:"dead_at"`
	Attempts       int       `json:"attempts"`
	LastStatusCode int       `json:"last_status_code"`
	LastError      string    `json:"last_error"`
}

// ResendRequest is POST /api/forward/{name}/resend's body: send again the
// items with these ids, every dead item, or those a filter selects.
type ResendRequest struct {
	IDs      []string   `json:"ids,omitempty"`
	Dead     bool       `json:"dead,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Event    string     `json:"event,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
}

// ResendAnswer says how many items were queued.
type ResendAnswer struct {
	Queued int `json:"queued"`
}
