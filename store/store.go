// Package store keeps robaws-edge's state in one bbolt file: the log of
// received deliveries, the de-duplication index, the customer cache with its
// history, the quarantine of rejected payloads and the webhook secrets.
//
// Domain types (LogEntry, Customer, HistoryEntry, Secret) live here so that every
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
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version written to the meta bucket. Open
// migrates older files (migrate.go); 2 stores customers as JSON, 3 adds
// the log's client/event indexes, its per-minute counters and the history's
// field index (log_index.go), 4 keys that field index by block of
// sequences (log_index.go).
const SchemaVersion = 4

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
	// ErrUnavailable is wrapped by commit errors when the store cannot
	// commit at all: the database file was removed or replaced under the
	// running daemon. Such errors are also what Problem reports.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrUnknownEndpoint is wrapped by errors about an endpoint name that
	// is not configured (the receiver's and the registrar's).
	ErrUnknownEndpoint = errors.New("unknown endpoint")
)

// Bucket names.
var (
	bucketMeta       = []byte("meta")
	bucketLogs       = []byte("logs")       // itob(id) -> Event
	bucketPayloads   = []byte("payloads")   // itob(id) -> raw body of a verified delivery
	bucketQuarantine = []byte("quarantine") // itob(id) ‖ uint16(chunk) -> a chunk of a quarantined (rejected) request (quarantine.go)
	bucketDedup      = []byte("dedup")      // endpoint \x00 event id -> itob(log id)
	bucketIdxStatus  = []byte("idx_status") // status \x00 itob(id) -> nil
	bucketStats      = []byte("stats")      // counter name -> itob(count)
	bucketCustomers  = []byte("customers")  // customer id -> Customer
	bucketHistory    = []byte("history")    // itob(seq) -> history entry, chained per customer (Prev)
	bucketSecrets    = []byte("secrets")    // secret id -> Secret
	allBuckets       = [][]byte{bucketMeta, bucketLogs, bucketPayloads, bucketQuarantine, bucketDedup, bucketIdxStatus, bucketStats, bucketCustomers, bucketHistory, bucketSecrets,
		bucketIdxClient, bucketIdxEvent, bucketIdxEventStatus, bucketRecent, bucketIdxHistField, bucketForward}
	keySchema          = []byte("schema_version")
	keyQuarantineBytes = []byte("quarantine_bytes")
	// keyQuarantineAccounting is the version of what the quarantine
	// counters count (quarantineAccounting).
	keyQuarantineAccounting = []byte("quarantine_accounting")
	keyRejectedLogBytes     = []byte("rejected_log_bytes")
	keyLastSyncStarted      = []byte("last_sync_started")
	// keyLastDuplicateAt is when the newest live repeat of a stored
	// event arrived: accepted too, but counted on an older entry.
	keyLastDuplicateAt = []byte("last_duplicate_at")
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
	// RejectedLogMaxBytes caps the rejected log entries, as stored (their
	// payloads count in QuarantineMaxBytes); the oldest go first. Default
	// 64 MiB: about 170 000 entries.
	RejectedLogMaxBytes int64
	// MaxGroup caps how many writes share one transaction; default 256.
	MaxGroup int
	// SkipPageCheck skips the check of every page at Open (the meta pages
	// and the file length are always checked). The check reads the whole
	// file in order, walks its pages and runs bbolt's tx.Check: measured
	// on 134 MB, 0.12 s from the page cache, 0.25 s from a cold disk.
	SkipPageCheck bool
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
	// committed carries each committed group, in commit order, from the
	// writer to answer, so the writer starts the next group meanwhile.
	committed chan committedGroup
	stop      chan struct{}
	stopped   chan struct{}
	closeMu   sync.RWMutex
	closed    bool

	// chunkSize is the size of the quarantine's chunks, from the page size.
	chunkSize int

	index *customerIndex
	// watch tells the log stream which entries commits created or changed.
	watch watch
	// streams fires after commits that may have added to a forwarding
	// stream (forward.go).
	streams signal

	// f is what the store knows of the file bbolt opened (file.go).
	f *fileState
	// commitErr is the unavailableError of the last failed commit, nil
	// once one succeeds again.
	commitMu  sync.Mutex
	commitErr error
}

// Open opens (creating if needed) the database at path with mode 0600 and
// starts its writer. It returns ErrInUse when another process holds the
// file, a *DamagedError (ErrDamaged) for a damaged or, where a database
// was, empty file, and an error wrapping ErrMissing for a missing file
// where a database was (marker.go): it never starts an empty database in
// place of one.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.QuarantineMaxBytes <= 0 {
		opts.QuarantineMaxBytes = 64 << 20
	}
	if opts.RejectedLogMaxBytes <= 0 {
		opts.RejectedLogMaxBytes = 64 << 20
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// A missing or empty file where a database was is refused, not
	// replaced by an empty one (marker.go).
	if err := checkHeld(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Check the file before bbolt maps it: a truncated file or garbage
	// meta pages crash bbolt (SIGBUS, "invalid freelist page").
	if _, err := validateFile(path, false, nil); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	bdb, err := openBolt(path, &bolt.Options{Timeout: opts.Timeout, FreelistType: bolt.FreelistMapType, MaxSize: opts.MaxSize})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Then every page, now that the lock keeps other writers out. It reads
	// the file with pread, so garbage in it is an error, never a crash.
	if !opts.SkipPageCheck {
		if _, err := validateFile(path, true, nil); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		if err := checkTx(bdb, path); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	db := &DB{bolt: bdb, path: path, opts: opts, Now: time.Now, chunkSize: chunkSizeFor(bdb.Info().PageSize),
		reqs: make(chan *writeReq, 1024), committed: make(chan committedGroup, 4), stop: make(chan struct{}), stopped: make(chan struct{})}
	// bbolt holds the lock now, so the file at path is the one it opened.
	if err := db.openFile(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.init(); err != nil {
		db.f.fd.Close()
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := markHeld(path); err != nil {
		db.f.fd.Close()
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	idx, err := db.loadCustomerIndex()
	if err != nil {
		db.f.fd.Close()
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.index = idx
	// The writer is owned by DB and stopped and waited for in Close.
	go db.writer()
	return db, nil
}

// openBolt opens path with bbolt, turning a panic or memory fault while
// bbolt reads the file into a DamagedError.
func openBolt(path string, o *bolt.Options) (bdb *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			bdb, err = nil, damaged(path, "bbolt failed to open it: %v", p)
		}
	}()
	bdb, err = bolt.Open(path, 0o600, o)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	} else if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, damaged(path, "bbolt cannot open it: %v", err)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bdb, nil
}

func (db *DB) init() error {
	return db.update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := migrate(tx); err != nil {
			return err
		}
		// The events stream of forwarding (forward.go) is filled from the
		// log the first time a file is opened by a version that has it.
		if tx.Bucket(bucketFwdEvents) == nil {
			if _, err := tx.CreateBucket(bucketFwdEvents); err != nil {
				return err
			}
			if err := backfillStream(tx); err != nil {
				return fmt.Errorf("fill the events stream: %w", err)
			}
		}
		return recountQuarantine(tx)
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

// closeWait bounds how long Close waits for bbolt once the store failed
// for good: bbolt may then wait for ever on a lock a panic left held.
const closeWait = time.Second

// Close stops the writer (waiting for queued writes) and closes the file.
// It is safe to call more than once. Once the store failed for good
// (file.go) it waits for the writer and bbolt at most closeWait each and
// returns an error if they did not finish: the process is ending, and the
// lock goes with it.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	db.closeMu.Unlock()
	close(db.stop)
	defer db.f.fd.Close()
	select {
	case <-db.stopped:
	case <-db.f.failed:
		select {
		case <-db.stopped:
		case <-time.After(closeWait):
			return fmt.Errorf("close store: the writer did not stop: %w", db.failure())
		}
	}
	if db.failure() == nil {
		return db.bolt.Close()
	}
	// The goroutine ends when bbolt does, or with the process.
	closed := make(chan error, 1)
	go func() { closed <- db.bolt.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(closeWait):
		return fmt.Errorf("close store: bbolt did not close: %w", db.failure())
	}
}

// update runs fn in its own read-write transaction (admin writes,
// pruning), with the same checks as the group commit (updateFile): the
// file must still be the one bbolt opened, a panic or fault is an error and
// a failed commit is recorded for Problem.
func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	_, err := db.updateFile(fn)
	return err
}

// view runs fn in a read transaction; a panic or memory fault in bbolt
// (a damaged page) is an error wrapping ErrDamaged, not a crash. It
// refuses, without entering bbolt, once the file is found overwritten in
// place (checkContent). It runs fn on the caller's goroutine: a read that
// is inside bbolt at the very moment the file is truncated under it may
// wait for ever on a lock bbolt's panic left held (guarded would bound it,
// at 25 µs a read); every later read is refused at once.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	if err := db.failure(); err != nil {
		return err
	}
	if err := db.checkContent(); err != nil {
		return err
	}
	err := safeView(db.bolt, fn)
	if errors.Is(err, ErrDamaged) {
		// A fault may be the file changing under bbolt.
		if cerr := db.checkContent(); cerr != nil {
			return cerr
		}
		if cerr := db.checkLength(); cerr != nil {
			return cerr
		}
	}
	return err
}

// safeUpdate is bdb.Update with a panic or memory fault turned into an
// error wrapping ErrDamaged.
func safeUpdate(bdb *bolt.DB, fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: write failed: %v", ErrDamaged, p)
		}
	}()
	return bdb.Update(fn)
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
	// recent and rvals are the per-minute/second counters (log_index.go),
	// batched the same way.
	recent *bolt.Bucket
	rvals  map[string]int64
}

func newCounters(tx *bolt.Tx) *counters {
	return &counters{stats: tx.Bucket(bucketStats), vals: make(map[string]int64, 8),
		recent: tx.Bucket(bucketRecent), rvals: make(map[string]int64, 8)}
}

func (c *counters) addRecent(key []byte, delta int64) {
	n, ok := c.rvals[string(key)]
	if !ok {
		n = int64(btoi(c.recent.Get(key)))
	}
	c.rvals[string(key)] = max(n+delta, 0)
}

// flushRecent writes the per-minute/second counters and prunes the old ones.
func (c *counters) flushRecent() error {
	if len(c.rvals) == 0 {
		return nil
	}
	for key, n := range c.rvals {
		var err error
		if n <= 0 {
			err = c.recent.Delete([]byte(key))
		} else {
			err = c.recent.Put([]byte(key), itob(uint64(n)))
		}
		if err != nil {
			return err
		}
	}
	clear(c.rvals)
	return pruneRecent(c.recent)
}

func (c *counters) add(name string, delta int64) {
	n, ok := c.vals[name]
	if !ok {
		n = int64(btoi(c.stats.Get([]byte(name))))
	}
	c.vals[name] = max(n+delta, 0)
}

func (c *counters) flush() error {
	if err := c.flushRecent(); err != nil {
		return err
	}
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
	return db.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("store check: %w", err)
		}
		return nil
	})
}
