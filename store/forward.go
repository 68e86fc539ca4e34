package store

// What the forwarding destinations (SPEC §8) keep in the database. The log
// is the outbox: no copy of a delivery is written for a destination. The
// events stream is an index, fwd_events, with one key per log entry that
// became processed (a replay that turns a failed entry processed appends it
// then); the changes stream is the history bucket itself. Each destination
// keeps, in a bucket of its own under "forward", its cursor into its stream
// (the last position passed), its counters and pause, the items set aside
// as dead, and a queue of re-sent items.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
)

// Streams a destination can follow (SPEC §8).
const (
	// StreamEvents is every delivery in the order it became processed.
	StreamEvents = "events"
	// StreamChanges is every customer change in history order.
	StreamChanges = "changes"
)

var (
	// bucketFwdEvents: itob(seq) -> fwdEvent (the events stream).
	bucketFwdEvents = []byte("fwd_events")
	// bucketForward: destination name -> bucket {state, dead/, queue/}.
	bucketForward = []byte("forward")
	keyFwdState   = []byte("state")
	bucketFwdDead = []byte("dead")  // itob(ref) -> ForwardDead
	bucketFwdQ    = []byte("queue") // itob(after) itob(n) -> itob(ref) itob(unix ms)
)

// ForwardState is a destination's position and counters, kept in the
// database.
type ForwardState struct {
	Stream string `json:"stream"`
	// Cursor is the last stream position passed: delivered, set aside as
	// dead or skipped by the filter.
	Cursor    uint64    `json:"cursor"`
	Delivered uint64    `json:"delivered"`
	Paused    bool      `json:"paused"`
	LastOK    time.Time `json:"last_success_at,omitzero"`
	// Head and Refusals count the refusals in a row of the item about to
	// be sent (its id), so a restart does not reset them.
	Head     string `json:"head,omitempty"`
	Refusals int    `json:"refusals,omitempty"`
}

// ForwardDead is an item set aside after refusals (SPEC §8).
type ForwardDead struct {
	ItemID         string    `json:"item_id"`
	Ref            uint64    `json:"ref"`
	LogID          *uint64   `json:"log_id"`
	DeadAt         time.Time `json:"dead_at"`
	Attempts       int       `json:"attempts"`
	LastStatusCode int       `json:"last_status_code"`
	LastError      string    `json:"last_error"`
}

// ForwardQueued is a re-sent item waiting in a destination's queue: it goes
// once the cursor has passed After.
type ForwardQueued struct {
	Key   []byte
	Ref   uint64
	After uint64
	At    time.Time
}

// ForwardDestination names a configured destination for InitForward.
type ForwardDestination struct {
	Name   string
	Stream string
	// Beginning starts a new destination at the oldest item kept instead
	// of after the newest.
	Beginning bool
}

// InitForward makes sure every destination has its state (a new one
// starts at the end of its stream, or at its beginning), and drops the
// state of destinations no longer configured, returning their names. A
// destination whose stream changed starts anew.
func (db *DB) InitForward(ctx context.Context, dests []ForwardDestination) (dropped []string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = db.update(func(tx *bolt.Tx) error {
		dropped = dropped[:0]
		root := tx.Bucket(bucketForward)
		keep := map[string]bool{}
		for _, d := range dests {
			keep[d.Name] = true
			b, err := root.CreateBucketIfNotExists([]byte(d.Name))
			if err != nil {
				return err
			}
			st, err := forwardState(b)
			if err != nil {
				return err
			}
			if st != nil && st.Stream == d.Stream {
				continue
			}
			for _, sub := range [][]byte{bucketFwdDead, bucketFwdQ} {
				if b.Bucket(sub) != nil {
					if err := b.DeleteBucket(sub); err != nil {
						return err
					}
				}
			}
			fresh := &ForwardState{Stream: d.Stream}
			if !d.Beginning {
				fresh.Cursor = streamEnd(tx, d.Stream)
			}
			if err := putForwardState(b, fresh); err != nil {
				return err
			}
		}
		var gone [][]byte
		err := root.ForEachBucket(func(k []byte) error {
			if !keep[string(k)] {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := root.DeleteBucket(k); err != nil {
				return err
			}
			dropped = append(dropped, string(k))
		}
		return nil
	})
	return dropped, err
}

func forwardState(b *bolt.Bucket) (*ForwardState, error) {
	v := b.Get(keyFwdState)
	if v == nil {
		return nil, nil
	}
	var st ForwardState
	if err := json.Unmarshal(v, &st); err != nil {
		return nil, fmt.Errorf("decode forward state: %w", err)
	}
	return &st, nil
}

func putForwardState(b *bolt.Bucket, st *ForwardState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return b.Put(keyFwdState, v)
}

// destBucket returns the bucket of destination name, or ErrNotFound.
func destBucket(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketForward).Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("forward destination %s: %w", name, ErrNotFound)
	}
	return b, nil
}

// destState returns the bucket of destination name (ErrNotFound when
// there is none) and its state (nil before InitForward wrote one).
func destState(tx *bolt.Tx, name string) (*bolt.Bucket, *ForwardState, error) {
	b, err := destBucket(tx, name)
	if err != nil {
		return nil, nil, err
	}
	st, err := forwardState(b)
	return b, st, err
}

// FindForwardState returns destination name's state. Returns ErrNotFound
// for a destination InitForward did not set up.
func (db *DB) FindForwardState(ctx context.Context, name string) (*ForwardState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var st *ForwardState
	err := db.view(func(tx *bolt.Tx) (err error) {
		if _, st, err = destState(tx, name); err == nil && st == nil {
			err = fmt.Errorf("forward destination %s: %w", name, ErrNotFound)
		}
		return err
	})
	return st, err
}

// ForwardUpdate is what one step of a destination writes, in one
// transaction: its state, an item set aside as dead, a queued item done.
type ForwardUpdate struct {
	State   *ForwardState
	Dead    *ForwardDead
	Dequeue []byte
}

// UpdateForward writes u for destination name. It shares the group commit
// with the deliveries (no fsync of its own).
func (db *DB) UpdateForward(ctx context.Context, name string, u ForwardUpdate) error {
	return db.group(ctx, func(tx *bolt.Tx, _ *counters) error {
		b, err := destBucket(tx, name)
		if err != nil {
			return err
		}
		if u.State != nil {
			// The pause is SetForwardPaused's alone: a cursor save racing
			// a pause must not undo it.
			st := *u.State
			if cur, err := forwardState(b); err != nil {
				return err
			} else if cur != nil {
				st.Paused = cur.Paused
			}
			if err := putForwardState(b, &st); err != nil {
				return err
			}
		}
		if u.Dead != nil {
			dead, err := b.CreateBucketIfNotExists(bucketFwdDead)
			if err != nil {
				return err
			}
			v, err := json.Marshal(u.Dead)
			if err != nil {
				return err
			}
			if err := dead.Put(itob(u.Dead.Ref), v); err != nil {
				return err
			}
		}
		if u.Dequeue != nil {
			if q := b.Bucket(bucketFwdQ); q != nil {
				return q.Delete(u.Dequeue)
			}
		}
		return nil
	}, nil)
}

// SetForwardPaused pauses or resumes destination name (a pause survives a
// restart).
func (db *DB) SetForwardPaused(ctx context.Context, name string, paused bool) error {
	return db.update(func(tx *bolt.Tx) error {
		b, st, err := destState(tx, name)
		if err != nil || st == nil {
			return err
		}
		st.Paused = paused
		return putForwardState(b, st)
	})
}

// FindForwardDead lists destination name's dead items, newest first.
func (db *DB) FindForwardDead(ctx context.Context, name string) ([]ForwardDead, error) {
	var out []ForwardDead
	err := db.walkDest(ctx, name, bucketFwdDead, func(_, v []byte) error {
		var d ForwardDead
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode dead item: %w", err)
		}
		out = append(out, d)
		return nil
	})
	slices.SortStableFunc(out, func(a, b ForwardDead) int { return b.DeadAt.Compare(a.DeadAt) })
	return out, err
}

// walkDest calls fn for each key and value of destination name's sub-bucket
// sub (dead items, the queue), in key order, in one read transaction.
func (db *DB) walkDest(ctx context.Context, name string, sub []byte, fn func(k, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(func(tx *bolt.Tx) error {
		b, err := destBucket(tx, name)
		if err != nil {
			return err
		}
		if s := b.Bucket(sub); s != nil {
			return s.ForEach(fn)
		}
		return nil
	})
}

// QueueForward queues refs (log ids or history sequences of the
// destination's stream) to be sent again after what is pending now; with
// dead set, every dead item is queued too. A queued item leaves the dead
// list. It returns how many were queued.
func (db *DB) QueueForward(ctx context.Context, name string, refs []uint64, dead bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.update(func(tx *bolt.Tx) error {
		n = 0
		b, st, err := destState(tx, name)
		if err != nil || st == nil {
			return err
		}
		all := slices.Clone(refs)
		if d := b.Bucket(bucketFwdDead); d != nil {
			// A re-sent item leaves the dead list: it is pending again.
			var gone [][]byte
			err := d.ForEach(func(k, _ []byte) error {
				if dead {
					all = append(all, btoi(k))
				}
				if dead || slices.Contains(refs, btoi(k)) {
					gone = append(gone, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range gone {
				if err := d.Delete(k); err != nil {
					return err
				}
			}
		}
		q, err := b.CreateBucketIfNotExists(bucketFwdQ)
		if err != nil {
			return err
		}
		after := streamEnd(tx, st.Stream)
		now := db.Now().UTC()
		for _, ref := range all {
			seq, err := q.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, 16)
			binary.BigEndian.PutUint64(v, ref)
			binary.BigEndian.PutUint64(v[8:], uint64(now.UnixMilli()))
			if err := q.Put(append(itob(after), itob(seq)...), v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// FindForwardQueue lists destination name's queued items, oldest first.
func (db *DB) FindForwardQueue(ctx context.Context, name string) ([]ForwardQueued, error) {
	var out []ForwardQueued
	err := db.walkDest(ctx, name, bucketFwdQ, func(k, v []byte) error {
		if len(k) == 16 && len(v) == 16 {
			out = append(out, ForwardQueued{Key: bytes.Clone(k), After: btoi(k[:8]), Ref: btoi(v[:8]),
				At: time.UnixMilli(int64(btoi(v[8:]))).UTC()})
		}
		return nil
	})
	return out, err
}

// forwardHeld returns the log entries that a destination of the events
// stream has not delivered yet (after its cursor, or queued): retention
// keeps them.
func forwardHeld(tx *bolt.Tx) (map[uint64]bool, error) {
	held := map[uint64]bool{}
	root := tx.Bucket(bucketForward)
	err := root.ForEachBucket(func(name []byte) error {
		b := root.Bucket(name)
		st, err := forwardState(b)
		if err != nil || st == nil || st.Stream != StreamEvents {
			return err
		}
		if q := b.Bucket(bucketFwdQ); q != nil {
			err := q.ForEach(func(_, v []byte) error {
				if len(v) >= 8 {
					held[btoi(v[:8])] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return walkStream(tx, StreamEvents, st.Cursor, func(_ uint64, h streamHead) (bool, error) {
			held[h.ref] = true
			return true, nil
		})
	})
	return held, err
}

// dropDead deletes the dead items of log entry id (events streams), which
// retention prunes: nothing is left to re-send.
func dropDead(tx *bolt.Tx, id uint64) error {
	root := tx.Bucket(bucketForward)
	return root.ForEachBucket(func(name []byte) error {
		if dead := root.Bucket(name).Bucket(bucketFwdDead); dead != nil {
			if st, err := forwardState(root.Bucket(name)); err != nil || st == nil || st.Stream != StreamEvents {
				return err
			}
			return dead.Delete(itob(id))
		}
		return nil
	})
}
