package store

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
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

// recentKeep is how far before the newest counted minute per-minute
// counters are kept: last_24h plus slack for a clock that moved. Measured
// from the newest entry, not the wall clock, so the counters always agree
// with the log they count.
const recentKeep = 25 * time.Hour

// indexLog adds (delta 1) or removes (delta -1) ev's secondary index keys
// and its per-minute counter.
func indexLog(tx *bolt.Tx, cnt *counters, ev *LogEntry, delta int) error {
	if err := indexKeys(tx, ev, delta); err != nil {
		return err
	}
	countRecent(cnt, ev, delta)
	return nil
}

// indexKeys adds (delta 1) or removes (delta -1) ev's secondary index keys.
func indexKeys(tx *bolt.Tx, ev *LogEntry, delta int) error {
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
func countRecent(cnt *counters, ev *LogEntry, delta int) {
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
