package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"
	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// maxIDLen bounds event ids and names: they become bbolt keys (at most
// 32 KiB) and counter names.
const maxIDLen = 512

// clip shortens an untrusted identifier to at most maxIDLen bytes, cutting
// before a character that would not fit whole.
func clip(s string) string { return clipTo(s, maxIDLen) }

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// clipID is clip for an event id, which is also the de-duplication key: a
// longer one keeps its first bytes and ends in "~" and 16 hex digits of its
// SHA-256, so two long ids that share their first 512 bytes stay two
// deliveries (each stored, SPEC §1.5) and a repeat of one stays a repeat.
func clipID(s string) string {
	if len(s) <= maxIDLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return clipTo(s, maxIDLen-17) + "~" + hex.EncodeToString(sum[:8])
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

// newDelivery parses a verified body signed at t into what the store keeps
// (SPEC §1.5–7): a delivery of an applying family carries its record,
// prepared here, outside the store's writer.
func (r *Receiver) newDelivery(ep *Endpoint, body []byte, t int64) *store.Delivery {
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
		d.EventID, d.Event = clipID(eventID), clip(event)
		d.Status, d.Error = store.StatusFailed, fmt.Sprintf("id or event longer than %d bytes", maxIDLen)
		return d
	case !okEvent:
		d.Status, d.Error = store.StatusFailed, "event missing or not a string"
		return d
	case !isObject(env.Data):
		d.Status, d.Error = store.StatusFailed, "data missing or not an object"
		return d
	}
	d.ClientID = clip(customer.ID(env.Data))
	if !slices.Contains(ep.Events, event) {
		d.Status = store.StatusIgnored
		return d
	}
	fam := r.family(event)
	if fam == nil {
		return d // accepted, nothing else to do
	}
	rec, err := fam.Prepare(env.Data, t)
	if err != nil {
		// Prepare fails only when data has no id (or does not decode),
		// so the log entry then has no client id either.
		d.ClientID = ""
		d.Status, d.Error = store.StatusFailed, err.Error()
		return d
	}
	d.ClientID = clip(rec.Key)
	if len(rec.Key) > maxIDLen {
		// The record's key is a bbolt key (at most 32 KiB): a longer one
		// would fail the commit and be retried by Robaws forever.
		d.Status, d.Error = store.StatusFailed, fmt.Sprintf("data.id longer than %d bytes", maxIDLen)
		return d
	}
	d.Record = rec
	return d
}

// rejectedDelivery is the log entry of a delivery rejected for reason at
// now. The event and client ids are unverified, but they help find the
// entry.
func rejectedDelivery(in Incoming, t int64, reason error, now time.Time) *store.Delivery {
	d := &store.Delivery{
		Endpoint: in.Endpoint.Name, Status: store.StatusRejected, Error: reason.Error(),
		ReceivedAt: now, RemoteAddr: in.RemoteAddr, SignatureTimestamp: t,
		Payload: in.Body, SignatureHeader: in.SignatureHeader,
		Signature: summarize(in.SignatureHeader, now),
	}
	if env, ok := parseEnvelope(in.Body); ok {
		id, _ := jsonString(env.ID)
		event, _ := jsonString(env.Event)
		d.EventID, d.Event, d.ClientID = clipID(id), clip(event), clip(customer.ID(env.Data))
	}
	return d
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
