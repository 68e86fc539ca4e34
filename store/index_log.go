package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The log's secondary indexes and per-minute counters (schema 3), written
// in the same transaction as the entry, so the client_id/event/status
// filters, /api/stats' last_24h and /api/changes' field filter read an
// index instead of scanning the log (SPEC §4). Keys end in itob(id) so
// that each prefix range is in arrival order and walked newest first.
var (
	bucketIdxClient      = []byte("idx_client")       // client id \x00 itob(id) -> nil
	bucketIdxEvent       = []byte("idx_event")        // event \x00 itob(id) -> nil
	bucketIdxEventStatus = []byte("idx_event_status") // event \x00 status \x00 itob(id) -> nil
	bucketRecent         = []byte("recent")           // itob(unix minute) status -> itob(count)
	bucketIdxHistField   = []byte("idx_hist_field")   // field \x00 itob(seq) -> nil
)

// recentKeep is how far before the newest counted minute per-minute
// counters are kept: last_24h plus slack for a clock that moved. Measured
// from the newest entry, not the wall clock, so the counters always agree
// with the log they count.
const recentKeep = 25 * time.Hour

// indexLog adds (delta 1) or removes (delta -1) ev's secondary index keys
// and its per-minute counter.
func indexLog(tx *bolt.Tx, ev *Event, delta int) error {
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
	if ev.Test {
		return nil // test data stays out of last_24h
	}
	return countRecent(tx, ev.ReceivedAt, ev.Status, delta)
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

// countRecent adds delta to the minute and second counters of (at, status)
// when at is within recentKeep of the newest counted second, and drops the
// counters that fell out of that window.
func countRecent(tx *bolt.Tx, at time.Time, status string, delta int) error {
	b := tx.Bucket(bucketRecent)
	newest := at.Unix()
	if k, _ := b.Cursor().Seek([]byte{grainSecond + 1}); k == nil {
		if k, _ := b.Cursor().Last(); len(k) >= 9 && k[0] == grainSecond {
			newest = max(newest, int64(btoi(k[1:9])))
		}
	}
	cutoff := newest - int64(recentKeep/time.Second)
	if at.Unix() >= cutoff {
		for _, key := range [][]byte{recentKey(grainMinute, at.Unix()/60, status), recentKey(grainSecond, at.Unix(), status)} {
			n := int64(btoi(b.Get(key))) + int64(delta)
			var err error
			if n <= 0 {
				err = b.Delete(key)
			} else {
				err = b.Put(key, itob(uint64(n)))
			}
			if err != nil {
				return err
			}
		}
	}
	// Prune the oldest of each grain; usually nothing or one unit's keys.
	for _, g := range []struct {
		grain  byte
		cutoff int64
	}{{grainMinute, cutoff / 60}, {grainSecond, cutoff}} {
		end := recentKey(g.grain, max(g.cutoff, 0), "")
		c := b.Cursor()
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

// indexHistory indexes history entry seq under each field it changed.
func indexHistory(tx *bolt.Tx, seq uint64, changes map[string]Change) error {
	b := tx.Bucket(bucketIdxHistField)
	b.FillPercent = appendFill
	for field := range changes {
		if err := b.Put(indexKey(field, seq), nil); err != nil {
			return err
		}
	}
	return nil
}

// migrateIndexesV2 builds schema 3's indexes and counters from the log and
// the history of a schema 2 file, in Open's transaction.
func migrateIndexesV2(tx *bolt.Tx) error {
	logs := tx.Bucket(bucketLogs)
	err := logs.ForEach(func(k, v []byte) error {
		var ev Event
		if err := unmarshalEvent(v, &ev); err != nil {
			return fmt.Errorf("decode log entry %d: %w", btoi(k), err)
		}
		return indexLog(tx, &ev, 1)
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
		var r historyRecord
		if err := unmarshalHistory(v, &r); err != nil {
			return fmt.Errorf("decode history %d: %w", btoi(k), err)
		}
		return indexHistory(tx, btoi(k), r.Changes)
	})
}
