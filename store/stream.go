package store

// The forwarding streams (SPEC §8): "events", an index of the log entries
// in the order they became processed (fwd_events), and "changes", the
// history itself (forward_changes.go). Destinations walk them from their
// cursor; nothing of a delivery is copied for them.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
)

// fwdEvent is a fwd_events value: the log id, when the entry became
// processed (unix ms), a flag byte (1 = test data) and the event name, so
// that a destination's filters and its pending count read no log entry.
func fwdEvent(logID uint64, at time.Time, test bool, event string) []byte {
	v := make([]byte, 17, 17+len(event))
	binary.BigEndian.PutUint64(v, logID)
	binary.BigEndian.PutUint64(v[8:], uint64(at.UnixMilli()))
	if test {
		v[16] = 1
	}
	return append(v, event...)
}

// parseFwdEvent undoes fwdEvent; ok is false for a value too short.
func parseFwdEvent(v []byte) (logID uint64, at time.Time, test bool, event string, ok bool) {
	if len(v) < 17 {
		return 0, time.Time{}, false, "", false
	}
	return binary.BigEndian.Uint64(v), time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:]))).UTC(), v[16] == 1, string(v[17:]), true
}

// streamProcessed appends log entry ev, which just became processed, to the
// events stream.
func streamProcessed(tx *bolt.Tx, ev *LogEntry, at time.Time) error {
	b := tx.Bucket(bucketFwdEvents)
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(itob(seq), fwdEvent(ev.ID, at, ev.Test, ev.Event))
}

// backfillStream fills a new fwd_events bucket from the log, for a file
// written before forwarding existed: every processed entry, in log order,
// at the time its status history says it became processed.
func backfillStream(tx *bolt.Tx) error {
	b := tx.Bucket(bucketFwdEvents)
	b.FillPercent = appendFill
	return tx.Bucket(bucketLogs).ForEach(func(k, v []byte) error {
		var ev LogEntry
		if err := unmarshalLogEntry(v, &ev); err != nil {
			return fmt.Errorf("decode log entry %d: %w", btoi(k), err)
		}
		if ev.Status != StatusProcessed {
			return nil
		}
		at := ev.ReceivedAt
		for _, s := range ev.StatusHistory {
			if s.Status == StatusProcessed {
				at = s.At
			}
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(itob(seq), fwdEvent(ev.ID, at, ev.Test, ev.Event))
	})
}

// ForwardFilter says which items of a stream a destination forwards.
type ForwardFilter struct {
	// Events keeps only these event names (events stream); empty keeps all.
	Events []string
	// IncludeTest forwards test data (send-test's TEST- clients) too.
	IncludeTest bool
}

// Keep reports whether an item of event, test data or not, passes f.
func (f ForwardFilter) Keep(event string, test bool) bool {
	if test && !f.IncludeTest {
		return false
	}
	return len(f.Events) == 0 || slices.Contains(f.Events, event)
}

// ForwardItem is one item of a stream, ready to send.
type ForwardItem struct {
	// Seq is the item's position in its stream; 0 for a re-sent item.
	Seq uint64
	// Ref is the log id (events) or the history sequence (changes).
	Ref uint64
	// ID is the item's id, derived from what it is (SPEC §8).
	ID string
	// At is when the item entered its stream (or the queue).
	At time.Time
	// Endpoint and Event are the delivery's; Endpoint is "sync" for a
	// change from a sync.
	Endpoint string
	Event    string
	// LogID is the log entry the item comes from; nil for a sync change.
	LogID *uint64
	// Test marks send-test's data (a TEST- client).
	Test bool
	// Body is what is sent: the raw payload (events) or the change item's
	// JSON (changes).
	Body []byte
}

// ChangeItem is an item of the changes stream (SPEC §8): the history entry
// plus the customer as the change left it, raw omitted.
type ChangeItem struct {
	Seq        uint64            `json:"seq"`
	CustomerID string            `json:"customer_id"`
	At         time.Time         `json:"at"`
	Source     string            `json:"source"`
	Event      string            `json:"event"`
	EventID    *string           `json:"event_id"`
	LogID      *uint64           `json:"log_id"`
	Changes    map[string]Change `json:"changes"`
	Customer   *Customer         `json:"customer"`
}

// streamEnd is the newest position of stream.
func streamEnd(tx *bolt.Tx, stream string) uint64 {
	b := tx.Bucket(bucketFwdEvents)
	if stream == StreamChanges {
		b = tx.Bucket(bucketHistory)
	}
	k, _ := b.Cursor().Last()
	return btoi(k)
}

// ForwardPending counts the items of stream after position after that f
// forwards, and returns when the first of them entered the stream (zero
// when none) and the stream's newest position.
func (db *DB) ForwardPending(ctx context.Context, stream string, after uint64, f ForwardFilter) (n int, oldest time.Time, end uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, 0, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		n, oldest, end = 0, time.Time{}, streamEnd(tx, stream)
		return walkStream(tx, stream, after, func(seq uint64, h streamHead) (bool, error) {
			if f.Keep(h.event, h.test) {
				if n == 0 {
					oldest = h.at
				}
				n++
			}
			return true, nil
		})
	})
	return n, oldest, end, err
}

// streamHead is what walkStream reads of an item without loading it.
type streamHead struct {
	ref   uint64
	at    time.Time
	test  bool
	event string
}

// walkStream calls fn for each item of stream after position after, in
// order, until fn returns false.
func walkStream(tx *bolt.Tx, stream string, after uint64, fn func(seq uint64, h streamHead) (bool, error)) error {
	if stream == StreamChanges {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Seek(itob(after + 1)); k != nil; k, v = c.Next() {
			var r struct {
				CustomerID string    `json:"customer_id"`
				At         time.Time `json:"at"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode history %d: %w", btoi(k), err)
			}
			seq := btoi(k)
			if ok, err := fn(seq, streamHead{ref: seq, at: r.At, test: IsTestID(r.CustomerID), event: changeEvent}); !ok || err != nil {
				return err
			}
		}
		return nil
	}
	c := tx.Bucket(bucketFwdEvents).Cursor()
	for k, v := c.Seek(itob(after + 1)); k != nil; k, v = c.Next() {
		logID, at, test, event, ok := parseFwdEvent(v)
		if !ok {
			continue
		}
		if ok, err := fn(btoi(k), streamHead{ref: logID, at: at, test: test, event: event}); !ok || err != nil {
			return err
		}
	}
	return nil
}

// changeEvent is the event name of every change item (robaws-event).
const changeEvent = "customer.changed"

// ReadForward returns up to max items of stream after position after that
// f forwards, loaded and ready to send, and the last position it looked at
// (items skipped by the filter, or whose log entry is gone, are passed).
func (db *DB) ReadForward(ctx context.Context, stream string, after uint64, max int, f ForwardFilter) ([]ForwardItem, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, after, err
	}
	var items []ForwardItem
	last := after
	err := db.view(func(tx *bolt.Tx) error {
		items, last = items[:0], after
		var refs []uint64
		var heads []streamHead
		var seqs []uint64
		err := walkStream(tx, stream, after, func(seq uint64, h streamHead) (bool, error) {
			if len(seqs) == max {
				return false, nil
			}
			last = seq
			if f.Keep(h.event, h.test) {
				refs, heads, seqs = append(refs, h.ref), append(heads, h), append(seqs, seq)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		loaded, err := loadItems(tx, stream, refs, false)
		if err != nil {
			return err
		}
		for i, it := range loaded {
			if it == nil {
				continue // pruned or damaged: nothing to send
			}
			it.Seq, it.At = seqs[i], heads[i].at
			items = append(items, *it)
		}
		return nil
	})
	return items, last, err
}

// LoadForward loads the items refs of stream (for re-sent items); a ref
// whose entry is gone is nil. With onlyStreamed (choosing what to re-send),
// an events ref whose entry never was processed is nil too: it never was
// in the stream. Queued refs load without it: they were checked when
// queued, or are dead items, which were in the stream.
func (db *DB) LoadForward(ctx context.Context, stream string, refs []uint64, onlyStreamed bool) ([]*ForwardItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*ForwardItem
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		out, err = loadItems(tx, stream, refs, onlyStreamed)
		return err
	})
	return out, err
}

// wasProcessed tells whether a log entry went into the events stream: it
// is processed, or was before a replay made it stale.
func wasProcessed(ev *LogEntry) bool {
	return ev.Status == StatusProcessed ||
		slices.ContainsFunc(ev.StatusHistory, func(c StatusChange) bool { return c.Status == StatusProcessed })
}

// loadItems loads refs of stream. An entry of the events stream went in
// when it became processed and is sent as it is, even if a later replay
// made it stale; onlyStreamed keeps only entries that were processed.
func loadItems(tx *bolt.Tx, stream string, refs []uint64, onlyStreamed bool) ([]*ForwardItem, error) {
	if stream == StreamChanges {
		return loadChanges(tx, refs)
	}
	out := make([]*ForwardItem, len(refs))
	for i, id := range refs {
		ev, err := findLogEntry(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if onlyStreamed && !wasProcessed(ev) {
			continue // a re-send of what never was in the stream
		}
		body := tx.Bucket(bucketPayloads).Get(itob(id))
		if body == nil {
			continue
		}
		logID := ev.ID
		out[i] = &ForwardItem{Ref: id, ID: ev.Endpoint + ":" + ev.EventID, At: ev.ReceivedAt,
			Endpoint: ev.Endpoint, Event: ev.Event, LogID: &logID, Test: ev.Test, Body: bytes.Clone(body)}
	}
	return out, nil
}

// pruneStream deletes the oldest keys of the events stream whose log
// entry retention deleted, up to the first one still kept.
func pruneStream(tx *bolt.Tx) error {
	b, logs := tx.Bucket(bucketFwdEvents), tx.Bucket(bucketLogs)
	var gone [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(gone) < pruneChunk; k, v = c.Next() {
		logID, _, _, _, ok := parseFwdEvent(v)
		if ok && logs.Get(itob(logID)) != nil {
			break
		}
		gone = append(gone, bytes.Clone(k))
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// signal is a channel closed (and replaced) each time it fires: any number
// of goroutines wait for the next firing without a registration.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
	// last is when it last fired (unix nanoseconds).
	last atomic.Int64
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.last.Store(time.Now().UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// ForwardWake returns a channel closed at the next commit that may have
// added to a stream (a delivery, a replay, a sync).
func (db *DB) ForwardWake() <-chan struct{} { return db.streams.wait() }

// ForwardLastAdded is when a commit last added to a stream (zero before
// the first since Open): how busy the intake is.
func (db *DB) ForwardLastAdded() time.Time {
	if n := db.streams.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// FindForwardRef returns what an item id of stream names: the log id of an
// events item ("<endpoint>:<event id>", or a log id), the history sequence
// of a changes item ("change:<endpoint>:<event id>",
// "change:sync:<customer id>:<version>", "change:history:<seq>", or a
// sequence). Returns ErrNotFound when nothing matches.
func (db *DB) FindForwardRef(ctx context.Context, stream, id string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var ref uint64
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		ref, err = findForwardRef(tx, stream, id)
		return err
	})
	return ref, err
}

func findForwardRef(tx *bolt.Tx, stream, id string) (uint64, error) {
	notFound := fmt.Errorf("item %s: %w", id, ErrNotFound)
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		if stream == StreamChanges && tx.Bucket(bucketHistory).Get(itob(n)) != nil ||
			stream == StreamEvents && tx.Bucket(bucketLogs).Get(itob(n)) != nil {
			return n, nil
		}
		return 0, notFound
	}
	byDelivery := func(s string) (uint64, error) {
		endpoint, eventID, ok := strings.Cut(s, ":")
		if !ok {
			return 0, notFound
		}
		v := tx.Bucket(bucketDedup).Get(dedupKey(endpoint, eventID))
		if v == nil {
			return 0, notFound
		}
		return btoi(v), nil
	}
	if stream == StreamEvents {
		return byDelivery(id)
	}
	rest, ok := strings.CutPrefix(id, "change:")
	if !ok {
		return 0, notFound
	}
	if s, ok := strings.CutPrefix(rest, "history:"); ok {
		return findForwardRef(tx, stream, s)
	}
	// The customer's chain holds the entry: walk it for the one matching.
	var customer string
	var match func(r *historyRecord) bool
	if s, ok := strings.CutPrefix(rest, "sync:"); ok {
		cid, version, ok := strings.Cut(s, ":")
		v, err := time.Parse(time.RFC3339Nano, version)
		if !ok || err != nil {
			return 0, notFound
		}
		customer = cid
		match = func(r *historyRecord) bool { return r.Source == SourceSync && r.Version.Equal(v) }
	} else {
		logID, err := byDelivery(rest)
		if err != nil {
			return 0, err
		}
		ev, err := findLogEntry(tx, logID)
		if err != nil {
			return 0, err
		}
		customer = ev.ClientID
		match = func(r *historyRecord) bool { return r.LogID != nil && *r.LogID == logID }
	}
	v := tx.Bucket(bucketCustomers).Get([]byte(customer))
	if v == nil {
		return 0, notFound
	}
	var c Customer
	if err := unmarshalCustomer(v, &c, false); err != nil {
		return 0, err
	}
	h := tx.Bucket(bucketHistory)
	for seq := range historyChain(h, c.historyHead, 0) {
		var r historyRecord
		if err := unmarshalHistory(h.Get(itob(seq)), &r); err != nil {
			return 0, fmt.Errorf("decode history %d: %w", seq, err)
		}
		if match(&r) {
			return seq, nil
		}
	}
	return 0, notFound
}
