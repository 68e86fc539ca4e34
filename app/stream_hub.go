package app

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// hubRing is how many recent log changes a follower can fall behind by
// before it is told it lost some (the store's own ring is as long).
const hubRing = 4096

// The fan-out's budget, for all followers together: what they may write
// a second, in bytes and in writes. Each follower gets its share, so the
// total stays the same however many follow: a few followers get every
// entry of any burst Robaws makes (64 followers: ~64 KiB, ~150 entries a
// second each), thousands get a slower, thinner view (the newest entries
// of each interval and a "missed" note) instead of taking the machine from
// the intake. fasthttp writes a stream in 4 KiB chunks, one system call
// each: 4 MiB/s is about 1,000 calls a second, a few per cent of a core
// (BenchmarkIntakeFollowers).
const (
	fanoutBytesPerSecond  = 4 << 20
	fanoutWritesPerSecond = 500
	// streamCoalesce is the shortest interval between two writes of one
	// follower: a burst goes out in one write.
	streamCoalesce = 100 * time.Millisecond
)

// streamHub fans the log's changes out to the log stream's followers
// (GET /api/webhook-logs/stream, the console's live lists) so that their
// number costs the intake nothing:
//
//   - the store wakes one goroutine, the hub's, on a commit, never the
//     followers (closing a channel readies every goroutine waiting on it,
//     and the store closes its channel on the path that answers deliveries);
//   - the hub reads and encodes each changed entry once, whatever the
//     number of followers (they used to read each entry each), and keeps it
//     in a ring the followers read from, each at its own position;
//   - at most max followers at once; one more is refused (503) before it
//     costs anything.
//
// The hub's goroutine runs while there are followers: the first starts it,
// it ends after the last leaves, and close (the app's shutdown) waits for
// it.
type streamHub struct {
	db  *store.DB
	max int

	mu        sync.Mutex
	followers int
	running   bool
	closed    bool
	seq       uint64 // hub sequence number of the newest item
	ring      [hubRing]streamItem
	wake      chan struct{} // closed when items are added, then replaced
	kick      chan struct{} // the last follower left (buffered, 1)
	quit      chan struct{} // closed by close
	wg        sync.WaitGroup
}

// streamItem is one changed log entry, read and encoded once for every
// follower; both fields are never modified after the hub publishes them.
type streamItem struct {
	ev   *store.LogEntry // for the followers' filters
	data []byte          // the entry as JSON
	lost bool            // the hub fell behind the store here: changes are missing
}

func newStreamHub(db *store.DB, max int) *streamHub {
	return &streamHub{db: db, max: max, wake: make(chan struct{}), kick: make(chan struct{}, 1), quit: make(chan struct{})}
}

// join adds a follower and returns the position it reads from (changes
// after now); ok is false when max followers are open or the app is
// shutting down.
func (hb *streamHub) join() (cursor uint64, ok bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.closed || hb.followers >= hb.max {
		return 0, false
	}
	hb.followers++
	if !hb.running {
		hb.running = true
		hb.wg.Add(1)
		go hb.run(hb.db.LogCursor())
	}
	return hb.seq, true
}

// leave removes a follower; the last one to leave stops the hub.
func (hb *streamHub) leave() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.followers--
	if hb.followers == 0 {
		select {
		case hb.kick <- struct{}{}:
		default:
		}
	}
}

// pace returns a follower's share of the fan-out budget: how long it waits
// between two writes and how many bytes of entries one write may carry.
func (hb *streamHub) pace() (interval time.Duration, share int) {
	hb.mu.Lock()
	n := max(hb.followers, 1)
	hb.mu.Unlock()
	interval = max(streamCoalesce, time.Second*time.Duration(n)/fanoutWritesPerSecond)
	return interval, int(fanoutBytesPerSecond * interval.Seconds() / float64(n))
}

// take appends to out[:0], oldest first, the newest entries after cursor
// that keep accepts and that fit in share bytes (at least one), and returns
// them with the cursor to pass next time, whether accepted entries were
// left out (they did not fit, or the follower fell more than hubRing
// items behind, or the hub fell behind the store), and a channel closed
// when more entries arrive. It walks from the newest entry back and stops
// copying when the share is full: a follower that was woken by thousands
// of entries costs what its share does.
func (hb *streamHub) take(cursor uint64, keep func(*store.LogEntry) bool, share int, out [][]byte) ([][]byte, uint64, bool, <-chan struct{}) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	out = out[:0]
	from, missed := cursor+1, false
	if hb.seq >= hubRing && from <= hb.seq-hubRing {
		from, missed = hb.seq-hubRing+1, true
	}
	size := 0
	for s := hb.seq; s >= from; s-- {
		it := &hb.ring[s%hubRing]
		if it.lost {
			missed = true
			continue
		}
		if !keep(it.ev) {
			continue
		}
		cost := len(it.data) + len("data: \n\n")
		if len(out) > 0 && size+cost > share {
			missed = true
			break
		}
		out = append(out, it.data)
		size += cost
	}
	slices.Reverse(out)
	return out, hb.seq, missed, hb.wake
}

// close stops the hub for good (the app shuts down) and waits for its
// goroutine; followers that join later are refused.
func (hb *streamHub) close() {
	hb.mu.Lock()
	if !hb.closed {
		hb.closed = true
		close(hb.quit)
	}
	hb.mu.Unlock()
	hb.wg.Wait()
}

// read reads and encodes log entry id once for every follower. An entry
// pruned meanwhile is nothing to send; one that cannot be read or encoded
// is a gap, and the followers are told they missed changes. ok is false
// when there is nothing to publish.
func (hb *streamHub) read(id uint64) (it streamItem, ok bool) {
	ev, err := hb.db.FindLogEntry(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return streamItem{}, false
	} else if err != nil {
		return streamItem{lost: true}, true
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return streamItem{lost: true}, true
	}
	return streamItem{ev: ev, data: b}, true
}

// run follows the store's log changes from cursor, reads each changed entry
// once, and publishes it to the followers, until no follower is left or the
// hub is closed.
func (hb *streamHub) run(cursor uint64) {
	defer hb.wg.Done()
	for {
		ids, next, lost, wake := hb.db.LogChanges(cursor)
		cursor = next
		var items []streamItem
		if lost {
			items = append(items, streamItem{lost: true})
		}
		for _, id := range ids {
			if it, ok := hb.read(id); ok {
				items = append(items, it)
			}
		}
		hb.mu.Lock()
		for _, it := range items {
			hb.seq++
			hb.ring[hb.seq%hubRing] = it
		}
		if len(items) > 0 {
			close(hb.wake)
			hb.wake = make(chan struct{})
		}
		if hb.followers == 0 || hb.closed {
			hb.running = false
			hb.ring = [hubRing]streamItem{} // let the entries go
			hb.mu.Unlock()
			return
		}
		hb.mu.Unlock()
		select {
		case <-wake:
		case <-hb.kick:
		case <-hb.quit:
		}
	}
}
