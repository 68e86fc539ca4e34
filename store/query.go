package store

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxLimit is the largest page any list returns.
const MaxLimit = 1000

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return 50, nil
	case limit < 0 || limit > MaxLimit:
		return 0, fmt.Errorf("limit must be between 1 and %d", MaxLimit)
	}
	return limit, nil
}

// decodeCursor parses a numeric cursor ("" = from the newest).
func decodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, ErrInvalidCursor
	}
	return n, nil
}

// LogFilter selects log entries for FindEvents. Zero fields match all.
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

// FindEvents returns log entries newest first and the cursor of the next
// page ("" at the end). A status or client filter walks its index; other
// filters scan the log backwards.
func (db *DB) FindEvents(ctx context.Context, f LogFilter) ([]*Event, string, error) {
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
	var out []*Event
	next := ""
	err = db.view(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketLogs)
		match := func(ev *Event) bool {
			return (f.Event == "" || ev.Event == f.Event) && (f.Status == "" || ev.Status == f.Status) &&
				(f.Endpoint == "" || ev.Endpoint == f.Endpoint) && (f.ClientID == "" || ev.ClientID == f.ClientID) &&
				(f.Since.IsZero() || !ev.ReceivedAt.Before(f.Since)) && (f.Until.IsZero() || ev.ReceivedAt.Before(f.Until)) &&
				!(f.ExcludeTest && ev.Test)
		}
		// ids walks ids newest first, below the cursor, through the
		// narrowest index the filter has (index_log.go); only endpoint,
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
			var ev Event
			if err := unmarshalEvent(v, &ev); err != nil {
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

// keyWalk yields the 8-byte keys of b newest first, below before (0 = all).
func keyWalk(b *bolt.Bucket, before uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		c := b.Cursor()
		var k []byte
		if before == 0 {
			k, _ = c.Last()
		} else {
			k, _ = c.Seek(itob(before))
			if k == nil {
				k, _ = c.Last()
			}
			if k != nil && btoi(k) >= before {
				k, _ = c.Prev()
			}
		}
		for ; k != nil; k, _ = c.Prev() {
			if !yield(btoi(k)) {
				return
			}
		}
	}
}

// indexWalk yields the ids under prefix in an index bucket (prefix \x00
// itob(id)), newest first, below before (0 = all).
func indexWalk(b *bolt.Bucket, prefix string, before uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		p := append([]byte(prefix), 0)
		seek := indexKey(prefix, ^uint64(0))
		if before != 0 {
			seek = indexKey(prefix, before)
		}
		c := b.Cursor()
		k, _ := c.Seek(seek)
		if k == nil {
			k, _ = c.Last()
		} else if bytes.Compare(k, seek) >= 0 {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Prev() {
			if len(k) == len(p)+8 && !yield(btoi(k[len(p):])) {
				return
			}
		}
	}
}

// historyChain yields one customer's history sequences newest first,
// following each entry's Prev from head; with before set it starts after
// that entry (which must belong to the chain).
func historyChain(h *bolt.Bucket, head, before uint64) func(yield func(uint64) bool) {
	prev := func(seq uint64) uint64 {
		var r historyRecord
		if v := h.Get(itob(seq)); v == nil || unmarshalHistory(v, &r) != nil {
			return 0
		}
		return r.Prev
	}
	return func(yield func(uint64) bool) {
		seq := head
		if before != 0 {
			// Walk to the cursor so a foreign cursor cannot jump chains.
			for seq != 0 && seq != before {
				seq = prev(seq)
			}
			if seq != 0 {
				seq = prev(seq)
			}
		}
		for ; seq != 0; seq = prev(seq) {
			if !yield(seq) {
				return
			}
		}
	}
}

// HistoryFilter selects history entries. Zero fields match all.
type HistoryFilter struct {
	// CustomerID limits to one customer.
	CustomerID string
	// Field keeps entries that changed this field (e.g. "role").
	Field string
	// Since keeps entries at or after this time.
	Since time.Time
	// Test includes the history of send-test's customers (IsTestID)
	// across customers; it is left out unless asked for, as in the
	// customer list. One customer's history (CustomerID) is always whole.
	Test  bool
	Limit int
	// Cursor is the next_cursor of a previous page.
	Cursor string
}

// FindHistory returns history entries newest first and the next cursor.
// With CustomerID set it returns ErrNotFound for an unknown customer.
func (db *DB) FindHistory(ctx context.Context, f HistoryFilter) ([]*HistoryEntry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	before, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var out []*HistoryEntry
	next := ""
	err = db.view(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		var seqs func(yield func(uint64) bool)
		if f.CustomerID != "" {
			v := tx.Bucket(bucketCustomers).Get([]byte(f.CustomerID))
			if v == nil {
				return ErrNotFound
			}
			var c Customer
			if err := unmarshalCustomer(v, &c, false); err != nil {
				return err
			}
			seqs = historyChain(h, c.historyHead, before)
		} else if f.Field != "" {
			var last uint64
			if k, _ := h.Cursor().Last(); k != nil {
				last = btoi(k)
			}
			seqs = fieldWalk(tx.Bucket(bucketIdxHistField), f.Field, before, last)
		} else {
			seqs = keyWalk(h, before)
		}
		for seq := range seqs {
			v := h.Get(itob(seq))
			if v == nil {
				continue
			}
			var r historyRecord
			if err := unmarshalHistory(v, &r); err != nil {
				return fmt.Errorf("decode history %d: %w", seq, err)
			}
			e := r.HistoryEntry
			e.Seq = seq
			if !f.Since.IsZero() && e.At.Before(f.Since) {
				return nil // history is in time order
			}
			if f.Field != "" {
				if _, ok := e.Changes[f.Field]; !ok {
					continue
				}
			}
			if !f.Test && f.CustomerID == "" && IsTestID(e.CustomerID) {
				continue
			}
			if len(out) == limit {
				next = strconv.FormatUint(out[len(out)-1].Seq, 10)
				return nil
			}
			out = append(out, &e)
		}
		return nil
	})
	return out, next, err
}
