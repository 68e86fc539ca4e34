// Package store keeps robaws-edge's state in one bbolt file: the log of
// received deliveries, the de-duplication index, the customer cache with its
// history, the quarantine of rejected payloads and the webhook secrets.
//
// Domain types (Event, Customer, HistoryEntry, Secret) live here so that every
// other package can use them without import cycles.
//
// Writes that arrive concurrently from the webhook receiver are grouped: one
// writer goroutine takes every request that is waiting (and those that arrive
// while it runs them), runs them in a single bbolt transaction and answers
// each caller only after that transaction is committed (two fdatasyncs shared
// by the whole group). Unlike bbolt's Batch it adds no delay when the writer
// is idle. The functions it runs may be run more than once (when another
// function of the same group fails), so they only touch the transaction (and
// the group's counters) and set their own results at the start of every run.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version written to the meta bucket.
const SchemaVersion = 1

// Errors returned by the store.
var (
	// ErrNotFound is returned when a requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInUse is returned by Open when another process holds the database.
	ErrInUse = errors.New("database is already in use by another process (is robaws-edge already running?)")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("store closed")
	// ErrConflict is returned when a write conflicts with existing state.
	ErrConflict = errors.New("conflict")
	// ErrInvalidCursor is returned for a cursor this store did not hand out.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Bucket names.
var (
	bucketMeta         = []byte("meta")
	bucketLogs         = []byte("logs")       // itob(id) -> Event
	bucketPayloads     = []byte("payloads")   // itob(id) -> raw body of a verified delivery
	bucketQuarantine   = []byte("quarantine") // itob(id) -> quarantined (rejected) request
	bucketDedup        = []byte("dedup")      // endpoint \x00 event id -> itob(log id)
	bucketIdxStatus    = []byte("idx_status") // status \x00 itob(id) -> nil
	bucketStats        = []byte("stats")      // counter name -> itob(count)
	bucketCustomers    = []byte("customers")  // customer id -> Customer
	bucketHistory      = []byte("history")    // itob(seq) -> history entry, chained per customer (Prev)
	bucketSecrets      = []byte("secrets")    // secret id -> Secret
	allBuckets         = [][]byte{bucketMeta, bucketLogs, bucketPayloads, bucketQuarantine, bucketDedup, bucketIdxStatus, bucketStats, bucketCustomers, bucketHistory, bucketSecrets}
	keySchema          = []byte("schema_version")
	keyQuarantineBytes = []byte("quarantine_bytes")
	keyLastSyncStarted = []byte("last_sync_started")
)

// appendFill is the FillPercent of buckets whose keys only grow (log,
// payloads, history, status index): their pages split nearly full instead of
// half full, so a commit writes fewer of them and the file grows more
// slowly. The slack left absorbs in-place rewrites of a log entry (another
// delivery of it, a replay) without a split.
const appendFill = 0.9

// Options configure Open. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for the file lock; default 2s.
	Timeout time.Duration
	// QuarantineMaxBytes caps the payloads kept for rejected deliveries; default 64 MiB.
	QuarantineMaxBytes int64
	// MaxGroup caps how many writes share one transaction; default 256.
	MaxGroup int
	// MaxSize, when positive, caps the file size: a commit that would grow
	// it further fails (bbolt's ErrMaxSizeReached), e.g. to keep a disk
	// from filling up. Default 0: no cap.
	MaxSize int
}

// DB is the robaws-edge database. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	opts Options

	// Now is the clock; tests replace it. Default time.Now.
	Now func() time.Time

	reqs chan *writeReq
	// counts batches the stats counters of the group transaction being
	// run; only the writer goroutine uses it.
	counts  *counters
	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.RWMutex
	closed  bool

	index *customerIndex
}

type writeReq struct {
	fn func(tx *bolt.Tx) error
	// after, when set, runs in the writer right after the commit, in
	// commit order (it keeps in-memory state such as the customer index in
	// step with the file: two updates of one customer cannot land in the
	// index in the opposite order).
	after func()
	done  chan error
}

// Open opens (creating if needed) the database at path with mode 0600 and
// starts its writer. It returns ErrInUse when another process holds the file.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.QuarantineMaxBytes <= 0 {
		opts.QuarantineMaxBytes = 64 << 20
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, FreelistType: bolt.FreelistMapType, MaxSize: opts.MaxSize})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrInUse)
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, opts: opts, Now: time.Now,
		reqs: make(chan *writeReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := db.init(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	idx, err := db.loadCustomerIndex()
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.index = idx
	// The writer is owned by DB and stopped and waited for in Close.
	go db.writer()
	return db, nil
}

func (db *DB) init() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			if got := btoi(v); got > SchemaVersion {
				return fmt.Errorf("schema version %d is newer than this binary supports (%d)", got, SchemaVersion)
			}
			return nil
		}
		return meta.Put(keySchema, itob(SchemaVersion))
	})
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Size returns the database file size in bytes.
func (db *DB) Size() int64 {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Close stops the writer (waiting for queued writes) and closes the file.
// It is safe to call more than once.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	db.closeMu.Unlock()
	close(db.stop)
	<-db.stopped
	return db.bolt.Close()
}

// group runs fn in the next group transaction and returns after it is
// committed. fn may run more than once; it must only touch tx and state it
// resets itself.
func (db *DB) group(ctx context.Context, fn func(tx *bolt.Tx) error, after func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	r := &writeReq{fn: fn, after: after, done: make(chan error, 1)}
	db.reqs <- r
	db.closeMu.RUnlock()
	return <-r.done
}

// writer is the one goroutine that commits grouped writes.
func (db *DB) writer() {
	defer close(db.stopped)
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
// answered with its error and the rest are retried without it.
func (db *DB) commit(batch []*writeReq) {
	for len(batch) > 0 {
		failed := -1
		var fnErr error
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			db.counts = newCounters(tx)
			defer func() { db.counts = nil }()
			for i := 0; ; i++ {
				// Requests that arrived while the group ran join it:
				// they share its commit instead of waiting for it.
				if i == len(batch) && !db.join(&batch) {
					return db.counts.flush()
				}
				if err := safeCall(batch[i].fn, tx); err != nil {
					failed, fnErr = i, err
					return err
				}
			}
		})
		if failed >= 0 {
			batch[failed].done <- fnErr
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		for _, r := range batch {
			if err == nil && r.after != nil {
				r.after()
			}
			r.done <- err
		}
		return
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

func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in store write: %v", p)
		}
	}()
	return fn(tx)
}

// itob encodes v as 8 big-endian bytes so keys sort numerically.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// indexKey is prefix \x00 itob(id).
func indexKey(prefix string, id uint64) []byte {
	k := make([]byte, 0, len(prefix)+9)
	k = append(k, prefix...)
	k = append(k, 0)
	return append(k, itob(id)...)
}

// counters batches a transaction's updates of the stats counters: each
// counter is read once and written once by flush, with the same outcome as
// updating it in place each time (a count that would drop to zero or below
// is deleted).
type counters struct {
	stats *bolt.Bucket
	vals  map[string]int64
}

func newCounters(tx *bolt.Tx) *counters {
	return &counters{stats: tx.Bucket(bucketStats), vals: make(map[string]int64, 8)}
}

func (c *counters) add(name string, delta int64) {
	n, ok := c.vals[name]
	if !ok {
		n = int64(btoi(c.stats.Get([]byte(name))))
	}
	c.vals[name] = max(n+delta, 0)
}

func (c *counters) flush() error {
	for name, n := range c.vals {
		var err error
		if n <= 0 {
			err = c.stats.Delete([]byte(name))
		} else {
			err = c.stats.Put([]byte(name), itob(uint64(n)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Check verifies the file's page structure (bbolt's consistency check) and
// returns the first problem found.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("store check: %w", err)
		}
		return nil
	})
}
