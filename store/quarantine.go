package store

// The quarantine: the raw request and signature header of rejected
// deliveries, kept for inspection and replay, and the budgets that bound
// what the rejected path keeps (SPEC §1.4).
//
// A quarantined request is stored in chunks of at most chunkSize bytes
// under the keys itob(id) ‖ uint16(chunk number). Four chunks with their
// keys fit in one bbolt page, so no quarantine page ever spans several
// pages: the pages a trim frees are single pages, which every later write
// reuses. Stored whole, a 7.5 KB request (a 4 KiB body with a 3.4 KB
// header) took a leaf of 2 to 8 contiguous pages; bbolt's freelist
// splits freed runs for single-page writes, the runs left became too
// short for the next multi-page leaf, and a flood grew the file without
// bound while its free pages piled up (10 rounds of 50,000: 67 → 185 MB,
// 16,000 free pages, and still growing; chunked: see the README).
// Files written before chunking keep their whole values under itob(id)
// (8-byte keys); they are read, trimmed and dropped the same way.

import (
	"bytes"
	"encoding/binary"
	"errors"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
)

// quarantined is a rejected request kept for inspection and replay.
type quarantined struct {
	SignatureHeader string `json:"signature_header"`
	Body            []byte `json:"body"`
}

// The quarantine is bounded by QuarantineMaxBytes counted as stored
// (SPEC §1.4): keyQuarantineBytes holds the bytes bbolt stores for every
// quarantined chunk (key, value and its 16-byte leaf element); over the
// cap the oldest requests are dropped first, whole, and their log lines
// stay. Rejected log lines are bounded too, on their own budget
// (RejectedLogMaxBytes, keyRejectedLogBytes: the log entry and its index
// keys as stored), because they are kept for the whole retention and
// a flood would grow them without a bound: over it the oldest rejected
// entries go, with their payload, index entries and counters. Files
// written before this accounting are recounted once at Open
// (keyQuarantineAccounting).
const storedOverhead = elemSize

// chunkKeySize is the length of a chunk's key: the log id and the chunk
// number.
const chunkKeySize = 8 + 2

// chunkSizeFor is the largest chunk for which four chunks (bbolt never
// splits a leaf of four elements or fewer) fit in one page of pageSize
// bytes: 994 bytes for 4 KiB pages.
func chunkSizeFor(pageSize int) int {
	return (pageSize-pageHeaderSize)/4 - elemSize - chunkKeySize
}

// addCounter adds delta to the meta counter key and returns the new value.
func addCounter(tx *bolt.Tx, key []byte, delta int64) (int64, error) {
	meta := tx.Bucket(bucketMeta)
	total := max(int64(btoi(meta.Get(key)))+delta, 0)
	return total, meta.Put(key, itob(uint64(total)))
}

// rejectedLogSize is what bbolt stores for the rejected log entry ev: the
// entry as stored, its status index key and its client and event index
// keys (indexKeys), each with its leaf element.
func rejectedLogSize(tx *bolt.Tx, ev *LogEntry) int64 {
	n := int64(8+storedOverhead) + int64(len(tx.Bucket(bucketLogs).Get(itob(ev.ID))))
	n += int64(len(StatusRejected) + 9 + storedOverhead)
	if ev.ClientID != "" {
		n += int64(len(ev.ClientID) + 9 + storedOverhead)
	}
	if ev.Event != "" {
		n += int64(len(ev.Event)+9+storedOverhead) + int64(len(ev.Event)+1+len(StatusRejected)+9+storedOverhead)
	}
	return n
}

// quarantineFormat starts a quarantined value: uvarint(len(header)),
// header, body. Older values are JSON (they start with '{').
const quarantineFormat = 1

func encodeQuarantined(header string, body []byte) []byte {
	v := make([]byte, 0, 1+binary.MaxVarintLen64+len(header)+len(body))
	v = append(v, quarantineFormat)
	v = binary.AppendUvarint(v, uint64(len(header)))
	v = append(v, header...)
	return append(v, body...)
}

func decodeQuarantined(v []byte) (quarantined, error) {
	var q quarantined
	if len(v) > 0 && v[0] == quarantineFormat {
		n, w := binary.Uvarint(v[1:])
		if w <= 0 || uint64(len(v)-1-w) < n {
			return q, errors.New("decode quarantined request: bad length")
		}
		q.SignatureHeader = string(v[1+w : 1+w+int(n)])
		q.Body = bytes.Clone(v[1+w+int(n):])
		return q, nil
	}
	err := json.Unmarshal(v, &q)
	return q, err
}

// quarantinedSize is what bbolt stores for data kept in chunks of size.
func quarantinedSize(data []byte, size int) int64 {
	chunks := max((len(data)+size-1)/size, 1)
	return int64(chunks*(chunkKeySize+storedOverhead) + len(data))
}

// quarantine keeps a rejected request unless it alone exceeds the cap.
// trimQuarantine then brings the totals back under their caps.
func (db *DB) quarantine(tx *bolt.Tx, id uint64, header string, body []byte) error {
	data := encodeQuarantined(header, body)
	size := quarantinedSize(data, db.chunkSize)
	if size > db.opts.QuarantineMaxBytes {
		return nil
	}
	q := tx.Bucket(bucketQuarantine)
	// Keys only grow: fill each page with its four chunks.
	q.FillPercent = 1
	for i := 0; i == 0 || len(data) > 0; i++ {
		n := min(len(data), db.chunkSize)
		key := binary.BigEndian.AppendUint16(itob(id), uint16(i))
		if err := q.Put(key, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	_, err := addCounter(tx, keyQuarantineBytes, size)
	return err
}

// findQuarantined returns the quarantined request of log entry id, or
// ErrNotFound.
func findQuarantined(tx *bolt.Tx, id uint64) (quarantined, error) {
	prefix := itob(id)
	var data []byte
	c := tx.Bucket(bucketQuarantine).Cursor()
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix) {
			// Stored whole, before chunking.
			return decodeQuarantined(v)
		}
		data = append(data, v...)
	}
	if data == nil {
		return quarantined{}, ErrNotFound
	}
	return decodeQuarantined(data)
}

// dropQuarantined deletes what is kept for log entry id (every chunk, or
// the whole value of an older file) and subtracts it from the counter.
func dropQuarantined(tx *bolt.Tx, id uint64) error {
	prefix := itob(id)
	c := tx.Bucket(bucketQuarantine).Cursor()
	var size int64
	// A cursor's Next after Delete may skip a key: seek again each time.
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Seek(prefix) {
		size += int64(len(k) + storedOverhead + len(v))
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if size == 0 {
		return nil
	}
	_, err := addCounter(tx, keyQuarantineBytes, -size)
	return err
}

// trimQuarantine drops the oldest quarantined requests, whole, until they
// fit their cap, then the oldest rejected log entries other than keep
// until they fit theirs.
func (db *DB) trimQuarantine(tx *bolt.Tx, cnt *counters, keep uint64) error {
	total, err := addCounter(tx, keyQuarantineBytes, 0)
	if err != nil {
		return err
	}
	q := tx.Bucket(bucketQuarantine).Cursor()
	for k, _ := q.First(); k != nil && total > db.opts.QuarantineMaxBytes; k, _ = q.First() {
		if err := dropQuarantined(tx, btoi(k[:8])); err != nil {
			return err
		}
		if total, err = addCounter(tx, keyQuarantineBytes, 0); err != nil {
			return err
		}
	}
	logBytes, err := addCounter(tx, keyRejectedLogBytes, 0)
	if err != nil {
		return err
	}
	prefix := []byte(StatusRejected + "\x00")
	idx := tx.Bucket(bucketIdxStatus).Cursor()
	for k, _ := idx.Seek(prefix); logBytes > db.opts.RejectedLogMaxBytes && bytes.HasPrefix(k, prefix); k, _ = idx.Seek(prefix) {
		id := btoi(k[len(prefix):])
		if id == keep {
			break
		}
		ev, err := findLogEntry(tx, id)
		if err != nil {
			return err
		}
		// unindexEvent subtracts the entry from the counter.
		if err := unindexLogEntry(tx, cnt, ev); err != nil {
			return err
		}
		if err := dropQuarantined(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLogs).Delete(itob(id)); err != nil {
			return err
		}
		if logBytes, err = addCounter(tx, keyRejectedLogBytes, 0); err != nil {
			return err
		}
	}
	return nil
}

// quarantineAccounting is the version of what the quarantine counters
// count: 2 counts stored bytes instead of raw payload bytes, 3 adds the
// client and event index keys to the rejected log entries.
const quarantineAccounting = 3

// recountQuarantine sets the quarantine counters from what is stored, once
// for files that counted differently (quarantineAccounting).
func recountQuarantine(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if btoi(meta.Get(keyQuarantineAccounting)) >= quarantineAccounting {
		return nil
	}
	var total, logBytes int64
	err := tx.Bucket(bucketQuarantine).ForEach(func(k, v []byte) error {
		total += int64(len(k) + storedOverhead + len(v))
		return nil
	})
	if err != nil {
		return err
	}
	prefix := []byte(StatusRejected + "\x00")
	c := tx.Bucket(bucketIdxStatus).Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ev, err := findLogEntry(tx, btoi(k[len(prefix):]))
		if err != nil {
			return err
		}
		logBytes += rejectedLogSize(tx, ev)
	}
	if err := meta.Put(keyQuarantineBytes, itob(uint64(total))); err != nil {
		return err
	}
	if err := meta.Put(keyRejectedLogBytes, itob(uint64(logBytes))); err != nil {
		return err
	}
	return meta.Put(keyQuarantineAccounting, itob(quarantineAccounting))
}
