package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
)

// NoRole is the key under which Stats counts customers without a role.
// Roles are stored upper-cased, so it cannot clash with a real one.
const NoRole = "none"

// Stats summarises the log and the customer cache.
type Stats struct {
	// Total is the number of log entries kept (duplicates are counted on
	// their original entry, not here).
	Total    int64
	ByStatus map[string]int64
	ByEvent  map[string]int64
	// LastReceivedAt is received_at of the newest log entry; zero when the
	// log is empty.
	LastReceivedAt time.Time
	// Recent counts the entries received at or after the Since passed to
	// Stats.
	RecentTotal    int64
	RecentByStatus map[string]int64
	// Customers is the number of cached customers; ByRole counts them by
	// role, NoRole for those without one.
	Customers int64
	ByRole    map[string]int64
}

// Stats returns the counters kept with every write, and the entries received
// since since (counted by the minute: since's whole minute counts), from
// the per-minute counters of the last 25 hours.
//
// Send-test entries (IsTestID) are left out unless includeTest; last_24h
// always leaves them out.
func (db *DB) Stats(ctx context.Context, since time.Time, includeTest bool) (*Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Stats{ByStatus: map[string]int64{}, ByEvent: map[string]int64{}, RecentByStatus: map[string]int64{}, ByRole: map[string]int64{}}
	err := db.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketStats).ForEach(func(k, v []byte) error {
			name, n := string(k), int64(btoi(v))
			if rest, ok := strings.CutPrefix(name, "test:"); ok {
				if !includeTest {
					return nil
				}
				name = rest
			}
			switch {
			case strings.HasPrefix(name, "status:"):
				s.ByStatus[name[len("status:"):]] += n
				s.Total += n
			case strings.HasPrefix(name, "event:"):
				s.ByEvent[name[len("event:"):]] += n
			case strings.HasPrefix(name, "role:"):
				role := name[len("role:"):]
				if role == "" {
					role = NoRole
				}
				s.ByRole[role] += n
				s.Customers += n
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The newest entry gives last_received_at; the per-minute counters
		// (log_index.go) give the entries since since, to the minute.
		if k, v := tx.Bucket(bucketLogs).Cursor().Last(); k != nil {
			var ev struct {
				ReceivedAt time.Time `json:"received_at"`
			}
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode log entry %d: %w", btoi(k), err)
			}
			s.LastReceivedAt = ev.ReceivedAt
		}
		s.RecentTotal, s.RecentByStatus = recentCounts(tx, since)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// LastAccepted returns when the newest accepted delivery arrived: the
// newest entry of every status but rejected (processed, failed, ignored,
// stale), its last delivery included, or the newest live repeat of any
// entry. ok is false when none was accepted. It reads the status index's
// last key of each, not the log.
func (db *DB) LastAccepted(ctx context.Context) (at time.Time, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyLastDuplicateAt); len(v) == 8 {
			at, ok = time.Unix(0, int64(btoi(v))).UTC(), true
		}
		c := tx.Bucket(bucketIdxStatus).Cursor()
		for _, status := range []string{StatusProcessed, StatusFailed, StatusIgnored, StatusStale} {
			prefix := []byte(status + "\x00")
			k, _ := c.Seek(append(slices.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			if !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
				continue
			}
			ev, err := findLogEntry(tx, btoi(k[len(prefix):]))
			if err != nil {
				return err
			}
			last := ev.ReceivedAt
			if ev.LastDeliveryAt.After(last) {
				last = ev.LastDeliveryAt
			}
			if !ok || last.After(at) {
				at, ok = last, true
			}
		}
		return nil
	})
	return at, ok, err
}
