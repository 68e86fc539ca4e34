package store

// Reading the log: one entry, its payload, and lists by filter through the
// log's indexes (log_index.go).

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LogFilter selects log entries for FindLogEntries. Zero fields match all.
type LogFilter struct {
	Event    string
	Status   string
	Endpoint string
	ClientID string
	// Since and Until bound received_at (inclusive, exclusive).
	Since, Until time.Time
	// ExcludeTest leaves out send-test's entries (Event.Test). The log
	// lists them by default, marked.
	ExcludeTest bool
	// Limit defaults to 50; at most MaxLimit.
	Limit int
	// Cursor is the next_cursor of a previous page.
	Cursor string
}

// Validate checks the filter.
func (f *LogFilter) Validate() error {
	if _, err := pageLimit(f.Limit); err != nil {
		return err
	}
	switch f.Status {
	case "", StatusProcessed, StatusFailed, StatusIgnored, StatusStale, StatusRejected:
	default:
		return fmt.Errorf("status must be one of processed, failed, ignored, stale, rejected")
	}
	return nil
}

// FindLogEntries returns log entries newest first and the cursor of the next
// page ("" at the end). A status or client filter walks its index; other
// filters scan the log backwards.
func (db *DB) FindLogEntries(ctx context.Context, f LogFilter) ([]*LogEntry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	limit, _ := pageLimit(f.Limit)
	before, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var out []*LogEntry
	next := ""
	err = db.view(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketLogs)
		match := func(ev *LogEntry) bool {
			return (f.Event == "" || ev.Event == f.Event) && (f.Status == "" || ev.Status == f.Status) &&
				(f.Endpoint == "" || ev.Endpoint == f.Endpoint) && (f.ClientID == "" || ev.ClientID == f.ClientID) &&
				(f.Since.IsZero() || !ev.ReceivedAt.Before(f.Since)) && (f.Until.IsZero() || ev.ReceivedAt.Before(f.Until)) &&
				!(f.ExcludeTest && ev.Test)
		}
		// ids walks ids newest first, below the cursor, through the
		// narrowest index the filter has (log_index.go); only endpoint,
		// since and until alone scan the log.
		var ids func(yield func(uint64) bool)
		switch {
		case f.Event != "" && f.Status != "":
			ids = indexWalk(tx.Bucket(bucketIdxEventStatus), f.Event+"\x00"+f.Status, before)
		case f.ClientID != "":
			ids = indexWalk(tx.Bucket(bucketIdxClient), f.ClientID, before)
		case f.Status != "":
			ids = indexWalk(tx.Bucket(bucketIdxStatus), f.Status, before)
		case f.Event != "":
			ids = indexWalk(tx.Bucket(bucketIdxEvent), f.Event, before)
		default:
			ids = keyWalk(logs, before)
		}
		for id := range ids {
			v := logs.Get(itob(id))
			if v == nil {
				continue
			}
			var ev LogEntry
			if err := unmarshalLogEntry(v, &ev); err != nil {
				return fmt.Errorf("decode log entry %d: %w", id, err)
			}
			// Entries are in arrival order, so received_at only falls as
			// we walk; stop once below since.
			if !f.Since.IsZero() && ev.ReceivedAt.Before(f.Since.Add(-time.Minute)) {
				return nil
			}
			if !match(&ev) {
				continue
			}
			// A page ends with a cursor only when another match follows,
			// so the last page says null.
			if len(out) == limit {
				next = strconv.FormatUint(out[len(out)-1].ID, 10)
				return nil
			}
			out = append(out, &ev)
		}
		return nil
	})
	return out, next, err
}

// StoredPayload is the body kept for a log entry.
type StoredPayload struct {
	// Body is the raw request body; nil when none is kept (dropped from
	// the quarantine or pruned).
	Body []byte
	// SignatureHeader is kept only for rejected deliveries.
	SignatureHeader string
}

// FindLogEntry returns the log entry id. Returns ErrNotFound if it does not exist.
func (db *DB) FindLogEntry(ctx context.Context, id uint64) (*LogEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ev *LogEntry
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		ev, err = findLogEntry(tx, id)
		return err
	})
	return ev, err
}

// FindPayload returns the stored body of log entry id (for rejected ones,
// from the quarantine, with its signature header). Returns ErrNotFound when
// no body is kept.
func (db *DB) FindPayload(ctx context.Context, id uint64) (StoredPayload, error) {
	if err := ctx.Err(); err != nil {
		return StoredPayload{}, err
	}
	var p StoredPayload
	err := db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketPayloads).Get(itob(id)); v != nil {
			p.Body = bytes.Clone(v)
			return nil
		}
		q, err := findQuarantined(tx, id)
		if err != nil {
			return err
		}
		p.Body, p.SignatureHeader = q.Body, q.SignatureHeader
		return nil
	})
	return p, err
}
