package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pruneChunk is how many log entries one pruning transaction deletes, so
// that deliveries arriving meanwhile wait for a short transaction only.
const pruneChunk = 2000

// PruneEvents deletes the log entries received more than maxAge before
// db.Now(), with everything kept for them: stored or quarantined payload,
// index entries, de-duplication key and their share of the status and event
// counters. Customers and their history stay (history keeps its log_id).
// An entry that a forwarding destination has not delivered yet is kept
// until it has: held counts those. A maxAge <= 0 keeps everything. It works
// in short transactions and returns how many entries it deleted, also when
// ctx ends it early.
func (db *DB) PruneEvents(ctx context.Context, maxAge time.Duration) (deleted, held int, err error) {
	if maxAge <= 0 {
		return 0, 0, nil
	}
	cutoff := db.Now().Add(-maxAge)
	for {
		if err := ctx.Err(); err != nil {
			return deleted, held, err
		}
		n, h, more := 0, 0, false
		err := db.update(func(tx *bolt.Tx) error {
			var err error
			n, h, more, err = pruneEvents(tx, cutoff, pruneChunk)
			return err
		})
		if err != nil {
			return deleted, held, fmt.Errorf("prune log: %w", err)
		}
		deleted += n
		held = max(held, h)
		if !more {
			return deleted, held, nil
		}
	}
}

// pruneEvents deletes up to max entries received before cutoff, oldest
// first, except those a forwarding destination has not delivered (which it
// counts; read in this transaction, so a replay or a resend committed
// meanwhile is kept too), and reports whether more may remain. An entry's

// PruneDaily runs PruneEvents at once and then every 24 hours until ctx is
// done, handing each pass's figures to report. A maxAge <= 0 returns at once.
func (db *DB) PruneDaily(ctx context.Context, maxAge time.Duration, report func(deleted, held int, err error)) {
	if maxAge <= 0 {
		return
	}
	tick := time.NewTicker(24 * time.Hour)
	defer tick.Stop()
	for {
		n, held, err := db.PruneEvents(ctx, maxAge)
		if ctx.Err() != nil {
			return
		}
		report(n, held, err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// dead items go with it.
func pruneEvents(tx *bolt.Tx, cutoff time.Time, max int) (int, int, bool, error) {
	keep, err := forwardHeld(tx)
	if err != nil {
		return 0, 0, false, err
	}
	logs := tx.Bucket(bucketLogs)
	// Collect first: deleting while a cursor walks may skip keys.
	var old []*LogEntry
	more, held := false, 0
	c := logs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var ev LogEntry
		if err := unmarshalLogEntry(v, &ev); err != nil {
			return 0, 0, false, fmt.Errorf("decode log entry %d: %w", btoi(k), err)
		}
		// Keys are in arrival order and received_at nearly so; concurrent
		// arrivals may overlap by a little, so look a minute further.
		if !ev.ReceivedAt.Before(cutoff.Add(time.Minute)) {
			break
		}
		if !ev.ReceivedAt.Before(cutoff) {
			continue
		}
		if keep[ev.ID] {
			held++
			continue
		}
		if len(old) == max {
			more = true
			break
		}
		old = append(old, &ev)
	}
	dedup, payloads := tx.Bucket(bucketDedup), tx.Bucket(bucketPayloads)
	cnt := newCounters(tx)
	for _, ev := range old {
		key := itob(ev.ID)
		if err := unindexLogEntry(tx, cnt, ev); err != nil {
			return 0, 0, false, err
		}
		if err := payloads.Delete(key); err != nil {
			return 0, 0, false, err
		}
		if err := dropQuarantined(tx, ev.ID); err != nil {
			return 0, 0, false, err
		}
		if ev.EventID != "" {
			dkey := dedupKey(ev.Endpoint, ev.EventID)
			if v := dedup.Get(dkey); v != nil && btoi(v) == ev.ID {
				if err := dedup.Delete(dkey); err != nil {
					return 0, 0, false, err
				}
			}
		}
		if err := logs.Delete(key); err != nil {
			return 0, 0, false, err
		}
		if err := dropDead(tx, ev.ID); err != nil {
			return 0, 0, false, err
		}
	}
	if err := cnt.flush(); err != nil {
		return 0, 0, false, err
	}
	if err := pruneStream(tx); err != nil {
		return 0, 0, false, err
	}
	return len(old), held, more, nil
}
