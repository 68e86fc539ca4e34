package store

import "sync"

// watchRing is how many recent log changes a watcher can fall behind by
// before it is told it lost some.
const watchRing = 4096

// watch fans out the ids of log entries that commits created or changed,
// in commit order, to any number of readers (the SSE stream): a ring of the
// last ids with their sequence numbers, and a channel closed (and replaced)
// on every publish.
type watch struct {
	mu   sync.Mutex
	seq  uint64 // sequence number of the newest id
	ring [watchRing]uint64
	wake chan struct{}
}

func (w *watch) publish(id uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.ring[w.seq%watchRing] = id
	if w.wake != nil {
		close(w.wake)
		w.wake = nil
	}
}

// LogCursor is the position of the newest log change; pass it to
// LogChanges to get what changes after it.
func (db *DB) LogCursor() uint64 {
	db.watch.mu.Lock()
	defer db.watch.mu.Unlock()
	return db.watch.seq
}

// LogChanges returns the ids of log entries created or changed since
// cursor (oldest first, an id more than once if it changed more than once),
// the cursor to pass next time, and a channel that is closed at the next
// change. lost is set when more than 4096 changes happened since cursor:
// the oldest of them are not in ids.
func (db *DB) LogChanges(cursor uint64) (ids []uint64, next uint64, lost bool, wake <-chan struct{}) {
	w := &db.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wake == nil {
		w.wake = make(chan struct{})
	}
	from := cursor + 1
	if w.seq >= watchRing && from <= w.seq-watchRing {
		from, lost = w.seq-watchRing+1, true
	}
	for s := from; s <= w.seq; s++ {
		ids = append(ids, w.ring[s%watchRing])
	}
	return ids, w.seq, lost, w.wake
}
