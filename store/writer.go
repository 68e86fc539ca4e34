package store

// The group commit: Ingest and ApplyCustomers hand their writes to the one
// writer goroutine, which runs every write waiting (and those arriving while
// it runs them) in one bbolt transaction; answer then tells each caller,
// in commit order, once that transaction is committed.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// committedGroup is a group the writer has committed, or failed to.
type committedGroup struct {
	reqs []*writeReq
	err  error
}

type writeReq struct {
	// fn writes in the group's transaction; cnt batches the group's
	// statistics counters, flushed once before the commit.
	fn func(tx *bolt.Tx, cnt *counters) error
	// after, when set, runs after the commit and before done is sent, in
	// commit order (it keeps in-memory state such as the customer index in
	// step with the file: two updates of one customer cannot land in the
	// index in the opposite order).
	after func()
	done  chan error
}

// group runs fn in the next group transaction and returns after it is
// committed. fn may run more than once; it must only touch tx and state it
// resets itself.
func (db *DB) group(ctx context.Context, fn func(tx *bolt.Tx, cnt *counters) error, after func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	r := &writeReq{fn: fn, after: after, done: make(chan error, 1)}
	// Once the store failed for good the writer may be stuck in bbolt:
	// neither queueing nor waiting may then last.
	select {
	case db.reqs <- r:
	case <-db.f.failed:
		db.closeMu.RUnlock()
		return db.failure()
	}
	db.closeMu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-db.f.failed:
		return db.failure()
	}
}

// writer is the one goroutine that commits grouped writes.
func (db *DB) writer() {
	answered := make(chan struct{})
	go db.answer(answered)
	defer func() {
		close(db.committed)
		<-answered
		close(db.stopped)
	}()
	batch := make([]*writeReq, 0, db.opts.MaxGroup)
	for {
		var first *writeReq
		select {
		case first = <-db.reqs:
		case <-db.stop:
			// Close holds closeMu while setting closed, so nothing new
			// arrives; drain what is queued.
			for {
				select {
				case r := <-db.reqs:
					db.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < db.opts.MaxGroup {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.commit(batch)
	}
}

// commit runs the requests in one transaction. A request whose fn fails is
// answered with its error and the rest are retried without it. The file
// is checked before and after (updateFile): a file removed, replaced or
// overwritten under the daemon would take the commit with it, so every
// request is answered an error instead (SPEC §1.9).
func (db *DB) commit(batch []*writeReq) {
	for len(batch) > 0 {
		failed := -1
		_, err := db.updateFile(func(tx *bolt.Tx) error {
			cnt := newCounters(tx)
			for i := 0; ; i++ {
				// Requests that arrived while the group ran join it:
				// they share its commit instead of waiting for it.
				if i == len(batch) && !db.join(&batch) {
					return cnt.flush()
				}
				if err := safeCall(batch[i].fn, tx, cnt); err != nil {
					failed = i
					return err
				}
			}
		})
		if failed >= 0 && !errors.Is(err, ErrUnavailable) {
			batch[failed].done <- err
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		db.committed <- committedGroup{reqs: slices.Clone(batch), err: err}
		return
	}
}

// answer runs the after functions of each committed group and answers its
// callers, group by group in commit order, until the writer closes
// committed. The in-memory state the after functions keep (the customer
// index, the log watch) is so updated in commit order and before a caller
// hears that its write is stored, as when the writer did it, but the
// writer goes on with the next group meanwhile. BenchmarkIntake (app)
// measures it: the after functions took a tenth of the writer's time.
func (db *DB) answer(done chan<- struct{}) {
	defer close(done)
	for g := range db.committed {
		for _, r := range g.reqs {
			if g.err == nil && r.after != nil {
				r.after()
			}
			r.done <- g.err
		}
	}
}

// join appends the requests waiting now to batch, up to MaxGroup, and
// reports whether there were any.
func (db *DB) join(batch *[]*writeReq) bool {
	n := len(*batch)
	for len(*batch) < db.opts.MaxGroup {
		select {
		case r := <-db.reqs:
			*batch = append(*batch, r)
		default:
			return len(*batch) > n
		}
	}
	return len(*batch) > n
}

func safeCall(fn func(*bolt.Tx, *counters) error, tx *bolt.Tx, cnt *counters) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in store write: %v", p)
		}
	}()
	return fn(tx, cnt)
}
