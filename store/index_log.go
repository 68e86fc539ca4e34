package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The log's secondary indexes and per-minute counters (schema 3), written
// in the same transaction as the entry, so the client_id/event/status
// filters, /api/stats' last_24h and /api/changes' field filter read an
// index instead of scanning the log (SPEC §4). The log's index keys end in
// itob(id) so that each prefix range is in arrival order and walked newest
// first. The history's field index (schema 4) keeps one bitmap per block of
// histBlock sequences and field instead.
var (
	bucketIdxClient      = []byte("idx_client")       // client id \x00 itob(id) -> nil
	bucketIdxEvent       = []byte("idx_event")        // event \x00 itob(id) -> nil
	bucketIdxEventStatus = []byte("idx_event_status") // event \x00 status \x00 itob(id) -> nil
	bucketRecent         = []byte("recent")           // itob(unix minute) status -> itob(count)
	bucketIdxHistField   = []byte("idx_hist_fields")  // itob(seq/histBlock) field -> bitmap of the block's seqs
	// bucketIdxHistFieldV3 is schema 3's field index (field \x00 itob(seq)
	// -> nil), replaced in schema 4.
	bucketIdxHistFieldV3 = []byte("idx_hist_field")
)

// histBlock is how many history sequences one key of the field index
// covers. Keyed by block first, the keys a commit changes (one per field
// its changes touch) sit side by side on one or two leaf pages; keyed by
// field first, as in schema 3, each field's newest key was on a page of its
// own, and BenchmarkIntake measured 11 of a commit's 57 pages written for
// that index (an update of six fields, 15 deliveries a commit). A walk of a
// field that never changed reads one key per block: 200 for 200k entries.
const histBlock = 1024

// recentKeep is how far before the newest counted minute per-minute
// counters are kept: last_24h plus slack for a clock that moved. Measured
// from the newest entry, not the wall clock, so the counters always agree
// with the log they count.
const recentKeep = 25 * time.Hour

// indexLog adds (delta 1) or removes (delta -1) ev's secondary index keys
// and its per-minute counter.
func indexLog(tx *bolt.Tx, cnt *counters, ev *Event, delta int) error {
	if err := indexKeys(tx, ev, delta); err != nil {
		return err
	}
	countRecent(cnt, ev, delta)
	return nil
}

// indexKeys adds (delta 1) or removes (delta -1) ev's secondary index keys.
func indexKeys(tx *bolt.Tx, ev *Event, delta int) error {
	type ref struct {
		bucket []byte
		prefix string
	}
	var keys []ref
	if ev.ClientID != "" {
		keys = append(keys, ref{bucketIdxClient, ev.ClientID})
	}
	if ev.Event != "" {
		keys = append(keys, ref{bucketIdxEvent, ev.Event}, ref{bucketIdxEventStatus, ev.Event + "\x00" + ev.Status})
	}
	for _, k := range keys {
		b := tx.Bucket(k.bucket)
		key := indexKey(k.prefix, ev.ID)
		var err error
		if delta > 0 {
			b.FillPercent = appendFill
			err = b.Put(key, nil)
		} else {
			err = b.Delete(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// countRecent adds delta to ev's per-minute and per-second counters; test
// data stays out of last_24h.
func countRecent(cnt *counters, ev *Event, delta int) {
	if ev.Test {
		return
	}
	at := ev.ReceivedAt.Unix()
	cnt.addRecent(recentKey(grainMinute, at/60, ev.Status), int64(delta))
	cnt.addRecent(recentKey(grainSecond, at, ev.Status), int64(delta))
}

// Recent counters come in two grains: per minute ('m' itob(minute)
// status) for the whole minutes of a window, per second ('s' itob(second)
// status) for the partial minute it starts in, so last_24h is exact to the
// second while reading at most 1,440 + 60 keys per status.
const (
	grainMinute = 'm'
	grainSecond = 's'
)

// recentKey is the counter of status at unit (a minute or a second).
func recentKey(grain byte, unit int64, status string) []byte {
	k := make([]byte, 9, 9+len(status))
	k[0] = grain
	binary.BigEndian.PutUint64(k[1:], uint64(unit))
	return append(k, status...)
}

// pruneRecent drops the counters more than recentKeep older than the
// newest counted second; the counters' flush calls it once per commit.
func pruneRecent(b *bolt.Bucket) error {
	c := b.Cursor()
	k, _ := c.Last()
	if len(k) < 9 || k[0] != grainSecond {
		return nil
	}
	// From the newest counted second, but never from the future: one entry
	// stamped ahead (a clock set right later) must not prune today's.
	newest := min(int64(btoi(k[1:9])), time.Now().Unix())
	cutoff := newest - int64(recentKeep/time.Second)
	if cutoff <= 0 {
		return nil
	}
	// The oldest keys come first; usually none or one unit's.
	for _, g := range []struct {
		grain  byte
		cutoff int64
	}{{grainMinute, cutoff / 60}, {grainSecond, cutoff}} {
		end := recentKey(g.grain, g.cutoff, "")
		for k, _ := c.Seek([]byte{g.grain}); k != nil && k[0] == g.grain && bytes.Compare(k, end) < 0; k, _ = c.Seek([]byte{g.grain}) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// recentCounts sums the entries received at or after since (to the
// second): the seconds
// of since's partial minute, then the whole minutes after it.
func recentCounts(tx *bolt.Tx, since time.Time) (total int64, byStatus map[string]int64) {
	byStatus = map[string]int64{}
	c := tx.Bucket(bucketRecent).Cursor()
	sum := func(from, to []byte) {
		for k, v := c.Seek(from); k != nil && bytes.Compare(k, to) < 0; k, v = c.Next() {
			n := int64(btoi(v))
			byStatus[string(k[9:])] += n
			total += n
		}
	}
	sec := since.Unix() // since's whole second counts
	nextMinute := (sec + 59) / 60
	sum(recentKey(grainSecond, sec, ""), recentKey(grainSecond, nextMinute*60, ""))
	sum(recentKey(grainMinute, nextMinute, ""), []byte{grainMinute + 1})
	return total, byStatus
}

// histFieldKey is the field index's key of field in block.
func histFieldKey(block uint64, field string) []byte {
	k := make([]byte, 8, 8+len(field))
	binary.BigEndian.PutUint64(k, block)
	return append(k, field...)
}

// indexHistory indexes history entry seq under each field it changed: it
// sets bit seq%histBlock of the field's bitmap for the block.
func indexHistory(tx *bolt.Tx, bucket []byte, seq uint64, changes map[string]Change) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	bit := seq % histBlock
	for field := range changes {
		key := histFieldKey(seq/histBlock, field)
		old := b.Get(key)
		// A new slice: bbolt keeps the value until the commit.
		v := make([]byte, max(len(old), int(bit/8)+1))
		copy(v, old)
		v[bit/8] |= 1 << (bit % 8)
		if err := b.Put(key, v); err != nil {
			return err
		}
	}
	return nil
}

// fieldWalk yields, newest first, the history sequences below before (all
// up to last, the newest sequence, when before is 0) that changed field.
func fieldWalk(b *bolt.Bucket, field string, before, last uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		top := last
		if before != 0 {
			top = min(before-1, last)
		}
		if top == 0 {
			return
		}
		for block := top / histBlock; ; block-- {
			// Bits past the value's end are 0; a longer (damaged) value
			// cannot reach outside its block.
			v := b.Get(histFieldKey(block, field))
			hi := min(len(v)*8, histBlock) - 1
			if block == top/histBlock {
				hi = min(hi, int(top%histBlock))
			}
			for i := hi; i >= 0; i-- {
				if v[i/8]&(1<<(i%8)) != 0 && !yield(block*histBlock+uint64(i)) {
					return
				}
			}
			if block == 0 {
				return
			}
		}
	}
}

// migrateIndexesV2 builds schema 3's indexes and counters from the log of
// a schema 2 file, in Open's transaction (the history's field index comes
// with schema 4).
func migrateIndexesV2(tx *bolt.Tx) error {
	logs := tx.Bucket(bucketLogs)
	cnt := newCounters(tx)
	// Only the last recentKeep before the newest entry gets counters.
	var cutoff time.Time
	if _, v := logs.Cursor().Last(); v != nil {
		var ev Event
		if err := unmarshalEvent(v, &ev); err != nil {
			return fmt.Errorf("decode newest log entry: %w", err)
		}
		cutoff = ev.ReceivedAt.Add(-recentKeep - time.Minute)
	}
	err := logs.ForEach(func(k, v []byte) error {
		var ev Event
		if err := unmarshalEvent(v, &ev); err != nil {
			return fmt.Errorf("decode log entry %d: %w", btoi(k), err)
		}
		if err := indexKeys(tx, &ev, 1); err != nil {
			return err
		}
		if !ev.ReceivedAt.Before(cutoff) {
			countRecent(cnt, &ev, 1)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return cnt.flushRecent()
}

// migrateFieldIndexV3 replaces schema 3's field index of the history by
// schema 4's, built from the history, in Open's transaction.
func migrateFieldIndexV3(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketIdxHistFieldV3); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
		var r historyRecord
		if err := unmarshalHistory(v, &r); err != nil {
			return fmt.Errorf("decode history %d: %w", btoi(k), err)
		}
		return indexHistory(tx, bucketIdxHistField, btoi(k), r.Changes)
	})
}
