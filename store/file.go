package store

// The database file under the running daemon. bbolt maps the file and
// trusts it: when someone removes it, puts another file at its path, or
// overwrites or truncates it in place (`cp backup.db robaws-edge.db`),
// commits would go to a file nobody opens again, or bbolt reads another
// file's pages through its map, faults, and can panic while holding its own
// locks, after which every transaction waits for ever.
//
// So the store checks the file before every commit and every read, and
// in every health check:
//   - the path: it must still name the file bbolt opened (device and inode).
//     A file removed, moved away or replaced is a problem that ends when the
//     file is put back; until then writes are refused, reads go on (the
//     daemon still holds the data, and `robaws-edge backup` can save it).
//   - the content: an own handle on the file bbolt opened reads its two
//     meta pages with pread (never through the map) and its length. Before
//     a commit, under commitSem, they must be byte for byte what the last
//     commit left; before a read, the newest valid meta must be the last
//     committed transaction or the one being committed. Anything else means
//     the file was overwritten or truncated in place: the store fails for
//     good (failed is closed), every waiting and later write and read
//     answers the error at once without entering bbolt, and Close does not
//     wait for bbolt for ever. The same happens after any panic inside a
//     bbolt write, since bbolt may have left its write lock held.
//
// Every such error is an *unavailableError wrapping ErrUnavailable, whose
// message names the cause and the one fix.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// unavailableError says why the store cannot commit and what to do.
type unavailableError struct {
	path  string
	cause string // follows "database file PATH"
	fix   string
	err   error // underlying, or nil
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("database file %s %s: %s", e.path, e.cause, e.fix)
}

// Unwrap returns ErrUnavailable and the underlying error.
func (e *unavailableError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.err}
}

// The fixes that recur in the messages.
const (
	fixSaveAndRestore = "save what robaws-edge still holds with `robaws-edge backup FILE` now, then run `robaws-edge stop`, `robaws-edge restore FILE` and `robaws-edge start`"
	fixResumesNext    = "robaws-edge resumes on the next delivery (Robaws retries the ones answered 503)"
)

// fileState is what the store knows of the file bbolt opened.
type fileState struct {
	fd       *os.File    // an own read-only handle on the file bbolt opened
	id       os.FileInfo // its identity at Open, for os.SameFile
	pageSize int

	// commitSem serializes commits with the check before them and the
	// record after them: a mutex that can be given up on once the store
	// failed (a commit stuck in bbolt holds it for ever).
	commitSem chan struct{}
	metas     []byte        // both meta blocks as the last commit left them (under commitSem)
	txid      atomic.Uint64 // the last committed transaction
	size      atomic.Int64  // the length the last commit's meta page requires

	failed   chan struct{} // closed when the store failed for good
	failOnce sync.Once
	failErr  error // set before failed is closed
}

// metaBlock is a meta page's header and meta, what readMetas compares.
const metaBlock = pageHeaderSize + metaSize

// openFile opens the own handle on the file bbolt has just opened (it holds
// the lock, so the path names that file) and records its meta pages.
func (db *DB) openFile() error {
	fd, err := os.Open(db.path)
	if err != nil {
		return err
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return err
	}
	db.f = &fileState{fd: fd, id: fi, pageSize: db.bolt.Info().PageSize, failed: make(chan struct{}), commitSem: make(chan struct{}, 1)}
	if err := db.recordMetas(0); err != nil {
		fd.Close()
		return err
	}
	return nil
}

// pageBuffers holds the buffers readMetas reads the first page and the
// second meta block into.
var pageBuffers sync.Pool

// readMetas reads both meta blocks through the own handle, with one pread.
func (db *DB) readMetas() ([]byte, error) {
	n := db.f.pageSize + metaBlock
	bp, _ := pageBuffers.Get().(*[]byte)
	if bp == nil || len(*bp) < n {
		b := make([]byte, n)
		bp = &b
	}
	defer pageBuffers.Put(bp)
	raw := (*bp)[:n]
	if _, err := db.f.fd.ReadAt(raw, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, 2*metaBlock)
	copy(buf, raw[:metaBlock])
	copy(buf[metaBlock:], raw[db.f.pageSize:])
	return buf, nil
}

// newestMeta returns the valid meta of buf (readMetas) with the higher
// transaction id; ok is false when neither is valid.
func newestMeta(buf []byte) (m fileMeta, ok bool) {
	for id := range uint64(2) {
		if mi, err := parseMeta(buf[id*metaBlock:(id+1)*metaBlock], id); err == nil && (!ok || mi.txid > m.txid) {
			m, ok = mi, true
		}
	}
	return m, ok
}

// recordMetas records the meta pages a commit of transaction txid (0: the
// file as opened) left, under commitSem. The commit rewrote one meta page:
// the newest must be of txid, and the other still the one the previous
// record saw; anything else means the file changed during the commit.
func (db *DB) recordMetas(txid uint64) error {
	buf, err := db.readMetas()
	if err != nil {
		return db.overwritten(err)
	}
	m, ok := newestMeta(buf)
	if !ok || txid != 0 && m.txid != txid || m.pageSize != uint32(db.f.pageSize) {
		return db.overwritten(nil)
	}
	if txid != 0 {
		kept := (txid + 1) % 2 * metaBlock
		if !bytes.Equal(buf[kept:kept+metaBlock], db.f.metas[kept:kept+metaBlock]) {
			return db.overwritten(nil)
		}
	}
	db.f.metas = buf
	db.f.size.Store(int64(m.pgid) * int64(m.pageSize))
	db.f.txid.Store(m.txid)
	return nil
}

// overwritten is the error of a file whose content changed under the
// daemon; it fails the store for good.
func (db *DB) overwritten(err error) error {
	return db.fail(&unavailableError{path: db.path, err: err,
		cause: "was overwritten or truncated in place while robaws-edge ran (its meta pages are no longer the ones robaws-edge wrote), so what robaws-edge held in it is gone",
		fix:   "run `robaws-edge stop`, then `robaws-edge restore FILE` with your latest backup (it checks the backup and keeps the current file aside), then `robaws-edge start`; restore only while robaws-edge is stopped, never by copying over its file"})
}

// fail makes err the store's failure for good (the first one stays) and
// returns it.
func (db *DB) fail(err error) error {
	db.f.failOnce.Do(func() {
		db.f.failErr = err
		close(db.f.failed)
	})
	return db.f.failErr
}

// failure returns the store's failure, or nil.
func (db *DB) failure() error {
	select {
	case <-db.f.failed:
		return db.f.failErr
	default:
		return nil
	}
}

// checkPath reports when the path no longer names the file bbolt opened:
// removed, moved away, replaced or no longer reachable. Such a problem
// ends when the file is back.
func (db *DB) checkPath() error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return db.gone(false)
	case errors.Is(err, os.ErrPermission):
		return &unavailableError{path: db.path, err: err,
			cause: "can no longer be reached (permission denied on it or its directory)",
			fix:   "give the user robaws-edge runs as access to the file and its directory again; robaws-edge resumes at once"}
	case err != nil:
		return &unavailableError{path: db.path, err: err,
			cause: fmt.Sprintf("can no longer be looked up (%v)", err),
			fix:   "check the disk and the file system it is on (e.g. `dmesg`); " + fixSaveAndRestore}
	case !os.SameFile(fi, db.f.id):
		return db.gone(true)
	}
	return nil
}

// gone is the error of a path that no longer names the file bbolt opened
// (replaced: another file is there now).
func (db *DB) gone(replaced bool) error {
	links, known := linkCount(db.f.fd)
	switch {
	case replaced:
		return &unavailableError{path: db.path,
			cause: "was replaced by another file while robaws-edge ran; robaws-edge still holds the one it opened and stores nothing until it restarts",
			fix:   "save what it holds with `robaws-edge backup FILE`, then run `robaws-edge restart` to use the new file (`robaws-edge restore FILE` puts the saved one back if that is the one to keep)"}
	case known && links == 0:
		return &unavailableError{path: db.path,
			cause: "was deleted while robaws-edge ran; robaws-edge still holds its data and stores nothing new",
			fix:   fixSaveAndRestore}
	case known:
		return &unavailableError{path: db.path,
			cause: "was moved away while robaws-edge ran; robaws-edge stores nothing until it is back",
			fix:   "move it back to " + db.path + "; robaws-edge resumes at once"}
	}
	return &unavailableError{path: db.path,
		cause: "was removed or moved away while robaws-edge ran; robaws-edge stores nothing until it is back",
		fix:   "move it back to " + db.path + " (robaws-edge resumes at once); if it was deleted, " + fixSaveAndRestore}
}

// checkContent reports, failing the store, when the file bbolt opened was
// overwritten in place. It takes no lock, so a commit may run meanwhile:
// the newest valid meta page must be of the last committed transaction or
// of the one being committed. It costs one pread (about 4 µs, to a 7 µs
// FindLogEntry); a file cut short past its meta pages shows when bbolt
// reads there, and checkLength tells then.
func (db *DB) checkContent() error {
	before := db.f.txid.Load()
	buf, err := db.readMetas()
	if err != nil {
		return db.overwritten(err)
	}
	m, ok := newestMeta(buf)
	if !ok || m.txid < before || m.txid > db.f.txid.Load()+1 || m.pageSize != uint32(db.f.pageSize) {
		return db.overwritten(nil)
	}
	return nil
}

// checkLength reports, failing the store, a file shorter than its last
// commit left it (truncated in place).
func (db *DB) checkLength() error {
	fi, err := db.f.fd.Stat()
	if err != nil {
		return db.overwritten(err)
	}
	if fi.Size() < db.f.size.Load() {
		return db.overwritten(nil)
	}
	return nil
}

// checkCommit is the check before a commit, under commitSem: the path, then
// the content exactly as the last commit left it.
func (db *DB) checkCommit() error {
	if err := db.failure(); err != nil {
		return err
	}
	if err := db.checkPath(); err != nil {
		return err
	}
	if err := db.checkLength(); err != nil {
		return err
	}
	buf, err := db.readMetas()
	if err != nil {
		return db.overwritten(err)
	}
	if !bytes.Equal(buf, db.f.metas) {
		return db.overwritten(nil)
	}
	return nil
}

// errAbandoned is what a transaction's function returns when guarded gave
// up on it before it started.
var errAbandoned = errors.New("transaction abandoned: the database file changed")

// guarded runs call, which runs fn in a bbolt transaction, in a goroutine
// of its own and waits for it; once the store failed for good it waits no
// longer than fn itself runs. A panic in bbolt may have left one of its
// locks held, and then call waits for ever: fn is then abandoned before it
// starts (it returns errAbandoned instead of running), so no caller state
// is touched after guarded returned. The goroutine ends with call, or
// with the process.
func (db *DB) guarded(call func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	const (
		waiting = iota
		running
		abandoned
	)
	var state atomic.Int32
	ran := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- call(func(tx *bolt.Tx) error {
			if !state.CompareAndSwap(waiting, running) {
				return errAbandoned
			}
			defer close(ran)
			return fn(tx)
		})
	}()
	select {
	case err := <-done:
		return err
	case <-db.f.failed:
	}
	if state.CompareAndSwap(waiting, abandoned) {
		return db.failure()
	}
	select {
	case err := <-done:
		return err
	case <-ran:
		return db.failure()
	}
}

// updateFile runs fn in one bbolt write transaction between the check and
// the record, under commitSem; fn returns its own error, which is returned
// as it is (nothing was written). Any other failure is turned into the
// unavailableError that says why, and a commit error is kept for Problem.
func (db *DB) updateFile(fn func(tx *bolt.Tx) error) (fnErr error, err error) {
	select {
	case db.f.commitSem <- struct{}{}:
	case <-db.f.failed:
		return nil, db.failure()
	}
	defer func() { <-db.f.commitSem }()
	if err := db.checkCommit(); err != nil {
		return nil, err
	}
	var txid uint64
	err = db.guarded(func(fn func(*bolt.Tx) error) error { return safeUpdate(db.bolt, fn) }, func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		fnErr = fn(tx)
		return fnErr
	})
	if err := db.failure(); err != nil {
		// Whatever bbolt did, it did to a changed file.
		return nil, err
	}
	switch {
	case err == nil:
		if err := db.recordMetas(txid); err != nil {
			return nil, err
		}
		db.setCommitErr(nil)
		// The file may have gone while the transaction ran: then the
		// commit went with it.
		return nil, db.checkPath()
	case fnErr != nil && err == fnErr:
		// fn may have failed on pages of a changed file.
		if cerr := db.checkCommit(); cerr != nil {
			return nil, cerr
		}
		return fnErr, fnErr
	case errors.Is(err, ErrDamaged):
		// A panic in bbolt: it may hold its write lock for ever now, so
		// no write may enter it again.
		if cerr := db.checkCommit(); cerr != nil {
			return nil, cerr
		}
		return nil, db.fail(&unavailableError{path: db.path, err: err,
			cause: fmt.Sprintf("is damaged (%v); robaws-edge stores nothing until it restarts", err),
			fix:   "save what is still readable with `robaws-edge backup FILE`, then run `robaws-edge stop`, `robaws-edge check` for details, `robaws-edge restore FILE` and `robaws-edge start`"})
	}
	if cerr := db.checkCommit(); cerr != nil {
		return nil, cerr
	}
	err = db.commitFailed(err)
	db.setCommitErr(err)
	return nil, err
}

// commitFailed says why a commit failed with err and what to do.
func (db *DB) commitFailed(err error) error {
	u := &unavailableError{path: db.path, err: err}
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, errDiskQuota):
		u.cause, u.fix = fmt.Sprintf("cannot grow: the disk is full (%v)", err), "free disk space; "+fixResumesNext
	case errors.Is(err, syscall.EROFS):
		u.cause, u.fix = fmt.Sprintf("is on a file system that went read-only (%v)", err),
			"check the disk (a file system goes read-only after I/O errors, see `dmesg`) and remount it read-write; "+fixResumesNext
	case errors.Is(err, os.ErrPermission):
		u.cause, u.fix = fmt.Sprintf("may not be written (%v): it was made read-only or immutable", err),
			"make it writable again for the user robaws-edge runs as (`chmod u+w`, or `chattr -i` for an immutable file); "+fixResumesNext
	case errors.Is(err, berrors.ErrMaxSizeReached):
		u.cause, u.fix = fmt.Sprintf("reached its size cap (%v)", err), "raise the cap, or shorten retention.max_age; "+fixResumesNext
	default:
		u.cause, u.fix = fmt.Sprintf("cannot be written (%v)", err),
			"check the disk (e.g. `dmesg`); "+fixSaveAndRestore+" on a sound disk"
	}
	return u
}

func (db *DB) setCommitErr(err error) {
	db.commitMu.Lock()
	db.commitErr = err
	db.commitMu.Unlock()
}

// Problem reports what keeps the store from committing, for the health
// check (store_unavailable), checked now: the store failed for good (the
// file overwritten in place, a panic in bbolt), the path no longer names
// the file (removed, moved, replaced, unreachable), or else the error of
// the last failed commit (disk full, read-only, I/O error, size cap) until
// a later commit succeeds. It returns nil when the store is healthy; else
// an error wrapping ErrUnavailable whose message names the file, the cause
// and the one fix.
func (db *DB) Problem() error {
	if err := db.failure(); err != nil {
		return err
	}
	if err := db.checkPath(); err != nil {
		return err
	}
	if err := db.checkContent(); err != nil {
		return err
	}
	if err := db.checkLength(); err != nil {
		return err
	}
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	return db.commitErr
}
