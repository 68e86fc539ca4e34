package store

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Log statuses, exactly as in SPEC §1.
const (
	StatusProcessed = "processed"
	StatusFailed    = "failed"
	StatusIgnored   = "ignored"
	StatusStale     = "stale"
	StatusRejected  = "rejected"
	// StatusDuplicate is an answer, never a stored status: duplicates are
	// counted on the original entry.
	StatusDuplicate = "duplicate"
)

// Sources of a customer change.
const (
	SourceWebhook = "webhook"
	SourceSync    = "sync"
	SourceReplay  = "replay"
)

// LogEntry is one entry of the webhook log: a received delivery and what
// became of it.
type LogEntry struct {
	ID                 uint64    `json:"id"`
	ReceivedAt         time.Time `json:"received_at"`
	Endpoint           string    `json:"endpoint"`
	Event              string    `json:"event"`
	EventID            string    `json:"event_id"`
	ClientID           string    `json:"client_id"`
	Status             string    `json:"status"`
	Error              string    `json:"error"`
	Deliveries         int       `json:"deliveries"`
	LastDeliveryAt     time.Time `json:"last_delivery_at"`
	DurationUS         int64     `json:"duration_us"`
	SignatureTimestamp int64     `json:"signature_timestamp"`
	RemoteAddr         string    `json:"remote_addr"`
	// SecretID names the secret that verified the delivery (never the secret).
	SecretID string `json:"secret_id,omitempty"`
	// StatusHistory lists the statuses the entry had, oldest first: its
	// delivery's, then each replay's (the last maxStatusHistory), so a
	// replay does not erase that the entry was rejected.
	StatusHistory []StatusChange `json:"status_history,omitempty"`
	// Test marks send-test data (a client id starting "TEST-"): listed,
	// but left out of the statistics and the per-minute counters.
	Test bool `json:"test,omitempty"`
	// Signature summarises a rejected delivery's Robaws-Signature header
	// (never the MAC).
	Signature *SignatureSummary `json:"signature,omitempty"`
	// DuplicateOf is the entry that processed this entry's event, when a
	// replay found it there (the status history's last item says
	// duplicate).
	DuplicateOf uint64 `json:"duplicate_of,omitempty"`
}

// StatusChange is one status a log entry took.
type StatusChange struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	// By is "delivery" or "replay".
	By string `json:"by"`
}

// SignatureSummary describes a rejected delivery's signature header: its
// timestamp (null when it had none that parses), the timestamp's age when
// it arrived, and how many v1 elements it had.
type SignatureSummary struct {
	Timestamp  *time.Time `json:"timestamp"`
	AgeSeconds *int64     `json:"age_seconds"`
	V1Count    int        `json:"v1_count"`
}

// maxStatusHistory bounds an entry's status history; replaying it a
// thousand times keeps the first status and the latest ones.
const maxStatusHistory = 20

// addStatus appends s to the status history, keeping the first and the
// latest maxStatusHistory-1. An entry stored before status histories began
// gets its one status first.
func (ev *LogEntry) addStatus(s StatusChange) {
	if len(ev.StatusHistory) == 0 && ev.Status != "" && s.By == "replay" {
		ev.StatusHistory = []StatusChange{{At: ev.ReceivedAt, Status: ev.Status, By: "delivery"}}
	}
	ev.StatusHistory = append(ev.StatusHistory, s)
	if n := len(ev.StatusHistory); n > maxStatusHistory {
		ev.StatusHistory = append(ev.StatusHistory[:1], ev.StatusHistory[n-maxStatusHistory+1:]...)
	}
}

// ReplayedDuplicate reports whether the entry's last replay found its
// event already processed under another entry (DuplicateOf): replaying it
// again changes nothing.
func (ev *LogEntry) ReplayedDuplicate() bool {
	n := len(ev.StatusHistory)
	return n > 0 && ev.StatusHistory[n-1].Status == StatusDuplicate
}

// indexLogEntry indexes ev, already stored. A rejected entry counts toward
// the quarantine cap.
func indexLogEntry(tx *bolt.Tx, cnt *counters, ev *LogEntry) error {
	idx := tx.Bucket(bucketIdxStatus)
	idx.FillPercent = appendFill
	if err := idx.Put(indexKey(ev.Status, ev.ID), nil); err != nil {
		return err
	}
	if ev.Status == StatusRejected {
		if _, err := addCounter(tx, keyRejectedLogBytes, rejectedLogSize(tx, ev)); err != nil {
			return err
		}
	}
	cnt.add(testPrefix(ev)+"status:"+ev.Status, 1)
	if countsEvent(ev) {
		cnt.add(testPrefix(ev)+"event:"+ev.Event, 1)
	}
	return indexLog(tx, cnt, ev, 1)
}

// IsTestID reports whether a client id is send-test's (SPEC §6: they start
// "TEST-"): such customers and deliveries are test data.
func IsTestID(id string) bool { return strings.HasPrefix(id, "TEST-") }

// testPrefix is the prefix of a test entry's counters: Stats adds them only
// when asked to.
func testPrefix(ev *LogEntry) string {
	if ev.Test {
		return "test:"
	}
	return ""
}

// countsEvent reports whether ev counts in the by-event statistics: only
// verified deliveries with an event name do, so unauthenticated traffic
// cannot grow the counters.
func countsEvent(ev *LogEntry) bool { return ev.Event != "" && ev.Status != StatusRejected }

// unindexLogEntry undoes indexEvent; ev must still be stored as indexed.
func unindexLogEntry(tx *bolt.Tx, cnt *counters, ev *LogEntry) error {
	if ev.Status == StatusRejected {
		if _, err := addCounter(tx, keyRejectedLogBytes, -rejectedLogSize(tx, ev)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketIdxStatus).Delete(indexKey(ev.Status, ev.ID)); err != nil {
		return err
	}
	cnt.add(testPrefix(ev)+"status:"+ev.Status, -1)
	if countsEvent(ev) {
		cnt.add(testPrefix(ev)+"event:"+ev.Event, -1)
	}
	return indexLog(tx, cnt, ev, -1)
}

func findLogEntry(tx *bolt.Tx, id uint64) (*LogEntry, error) {
	v := tx.Bucket(bucketLogs).Get(itob(id))
	if v == nil {
		return nil, ErrNotFound
	}
	var ev LogEntry
	if err := unmarshalLogEntry(v, &ev); err != nil {
		return nil, fmt.Errorf("decode log entry %d: %w", id, err)
	}
	return &ev, nil
}

func putLogEntry(logs *bolt.Bucket, ev *LogEntry) error {
	data, err := marshalLogEntry(ev)
	if err != nil {
		return err
	}
	return logs.Put(itob(ev.ID), data)
}
