package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is wrapped by every DamagedError: the database file is not a
// whole, consistent bbolt file.
var ErrDamaged = errors.New("database file is damaged")

// DamagedError reports a damaged database file and what to do about it.
type DamagedError struct {
	// Path is the database file.
	Path string
	// Reason says what is wrong, e.g. "file is 1048576 bytes, its meta page says 2097152".
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("database file %s is damaged: %s; stop robaws-edge and run `robaws-edge check` for details, or restore a backup with `robaws-edge restore FILE` (with no backup, `robaws-edge restore --empty` starts an empty database and keeps this file aside)", e.Path, e.Reason)
}

// Unwrap returns ErrDamaged.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

func damaged(path, format string, args ...any) *DamagedError {
	return &DamagedError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// The bbolt v1.5.0 file layout (go.etcd.io/bbolt/internal/common): every
// page starts with a 16-byte header (id u64, flags u16, count u16,
// overflow u32); pages 0 and 1 are meta pages whose body is magic u32,
// version u32, pageSize u32, flags u32, root bucket (root pgid u64,
// sequence u64), freelist pgid u64, high-water mark pgid u64, txid u64 and
// an FNV-64a checksum of the bytes before it. Integers are in the
// machine's byte order (bbolt files are endian-specific).
const (
	pageHeaderSize  = 16
	elemSize        = 16 // branch and leaf page elements are both 16 bytes
	metaSize        = 64
	metaChecksumOff = 56
	boltMagic       = 0xED0CDAED
	boltVersion     = 2

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafBucket   = 0x01

	noFreelist = ^uint64(0)
)

var ne = binary.NativeEndian

// fileMeta is a decoded, validated meta page.
type fileMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
	// damaged, when set, says which meta page is damaged while the other
	// (this one) is sound: bbolt opens the file from this one, but check
	// and restore refuse it.
	damaged string
}

// errNotMeta marks a page 0 or 1 whose page header is not a meta page's:
// bbolt cannot open such a file at all (it panics on the header), even
// when the other meta page is sound.
var errNotMeta = errors.New("not a meta page")

// parseMeta decodes meta page id (0 or 1) at the start of buf (a page
// header followed by the meta) and validates it as bbolt does, plus its
// page header and the bounds bbolt takes for granted.
func parseMeta(buf []byte, id uint64) (fileMeta, error) {
	if len(buf) < pageHeaderSize+metaSize {
		return fileMeta{}, errors.New("too short for a meta page")
	}
	if got, flags := ne.Uint64(buf), ne.Uint16(buf[8:]); got != id || flags != flagMeta {
		return fileMeta{}, fmt.Errorf("%w (its page header says page %d, flags %#x)", errNotMeta, got, flags)
	}
	m := buf[pageHeaderSize : pageHeaderSize+metaSize]
	if ne.Uint32(m[0:]) != boltMagic {
		return fileMeta{}, errors.New("not a bbolt meta page (bad magic)")
	}
	if v := ne.Uint32(m[4:]); v != boltVersion {
		return fileMeta{}, fmt.Errorf("unsupported bbolt version %d", v)
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumOff])
	if h.Sum64() != ne.Uint64(m[metaChecksumOff:]) {
		return fileMeta{}, errors.New("meta page checksum mismatch")
	}
	fm := fileMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}
	if fm.pageSize < 1024 || fm.pageSize > 1<<24 || fm.pageSize&(fm.pageSize-1) != 0 {
		return fileMeta{}, fmt.Errorf("invalid page size %d", fm.pageSize)
	}
	if fm.pgid < 2 || fm.root < 2 || fm.root >= fm.pgid || (fm.freelist != noFreelist && (fm.freelist < 2 || fm.freelist >= fm.pgid)) {
		return fileMeta{}, fmt.Errorf("page ids out of range (root %d, freelist %d, high-water mark %d)", fm.root, fm.freelist, fm.pgid)
	}
	return fm, nil
}

// readMeta reads both meta pages of f (size bytes long) without mapping it
// and returns the one bbolt would use: the valid one with the higher txid.
// It also requires the file to be as long as that meta says (SPEC §1.10).
// One damaged meta page is an error when bbolt could not open the file
// (errNotMeta), else it is noted in the returned meta's damaged field.
func readMeta(f *os.File, size int64) (fileMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return fileMeta{}, fmt.Errorf("read first meta page: %w", err)
	}
	m0, err0 := parseMeta(buf, 0)
	// The second meta page is one page in: take the page size from the
	// first, or try every size bbolt supports when the first is damaged.
	var offsets []int64
	if err0 == nil {
		offsets = []int64{int64(m0.pageSize)}
	} else {
		for i := 0; i <= 14; i++ {
			offsets = append(offsets, 1024<<i)
		}
	}
	var m1 fileMeta
	var err1 error = errors.New("not found")
	for _, off := range offsets {
		if off+int64(len(buf)) > size {
			break
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			return fileMeta{}, fmt.Errorf("read second meta page: %w", err)
		}
		if m1, err1 = parseMeta(buf, 1); err1 == nil {
			if int64(m1.pageSize) != off {
				err1 = fmt.Errorf("page size %d does not match its offset %d", m1.pageSize, off)
				continue
			}
			break
		}
	}
	var m fileMeta
	switch {
	case err0 != nil && err1 != nil:
		return fileMeta{}, fmt.Errorf("first meta page: %v; second meta page: %v", err0, err1)
	case errors.Is(err0, errNotMeta):
		return fileMeta{}, fmt.Errorf("first meta page: %v; the second is sound (transaction %d), but bbolt cannot open a file whose first page is not a meta page", err0, m1.txid)
	case errors.Is(err1, errNotMeta):
		return fileMeta{}, fmt.Errorf("second meta page: %v; the first is sound (transaction %d), but bbolt cannot open a file whose second page is not a meta page", err1, m0.txid)
	case err0 != nil:
		m = m1
		m.damaged = fmt.Sprintf("first meta page: %v (the second is sound: bbolt opens the file at transaction %d, losing at most the last commit, and rewrites the first on its next commit)", err0, m1.txid)
	case err1 != nil:
		m = m0
		m.damaged = fmt.Sprintf("second meta page: %v (the first is sound: bbolt opens the file at transaction %d, losing at most the last commit, and rewrites the second on its next commit)", err1, m0.txid)
	default:
		m = m0
		if m1.txid > m.txid {
			m = m1
		}
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return fileMeta{}, fmt.Errorf("file is %d bytes, its meta page says at least %d (truncated?)", size, want)
	}
	return m, nil
}

// maxProblems bounds the problems a check collects.
const maxProblems = 10

// walker checks the page tree of a bbolt file by reading it with pread,
// never through a memory map, so that no garbage in the file can crash the
// process: every page id is checked against the high-water mark and every
// element against its page before it is followed. It checks what bbolt's
// tx.Check checks except the key order across pages: page ids and types,
// element bounds, key order within a page, pages referenced twice, the
// freelist, and that every page is either reachable or free.
type walker struct {
	f        *os.File
	m        fileMeta
	seen     []uint64 // bitset of reachable pages
	free     []uint64 // bitset of free pages
	problems []string
	count    int // problems found, also beyond maxProblems
	checked  int
	progress func(checked, total int)
	step     int
	buf      []byte // the page being checked, reused
}

func getBit(set []uint64, i uint64) bool { return set[i/64]&(1<<(i%64)) != 0 }
func setBit(set []uint64, i uint64)      { set[i/64] |= 1 << (i % 64) }

func (w *walker) problem(format string, args ...any) {
	w.count++
	if len(w.problems) < maxProblems {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// err returns the problems found as a DamagedError, or nil.
func (w *walker) err(path string) error {
	if w.count == 0 {
		return nil
	}
	reason := strings.Join(w.problems, "; ")
	if w.count > len(w.problems) {
		reason += fmt.Sprintf(" (and %d more)", w.count-len(w.problems))
	}
	return damaged(path, "%s", reason)
}

// page reads page id with its overflow pages; nil when it is unusable
// (the problem is recorded).
func (w *walker) page(id uint64, want uint16, parent uint64) []byte {
	psz := uint64(w.m.pageSize)
	if id < 2 || id >= w.m.pgid {
		w.problem("page %d (referenced by page %d): out of bounds (high-water mark %d)", id, parent, w.m.pgid)
		return nil
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id*psz)); err != nil {
		w.problem("page %d: %v", id, err)
		return nil
	}
	if got := ne.Uint64(hdr); got != id {
		w.problem("page %d (referenced by page %d): header says page %d", id, parent, got)
		return nil
	}
	flags, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint32(hdr[12:]))
	if want == 0 && flags != flagBranch && flags != flagLeaf || want != 0 && flags != want {
		w.problem("page %d (referenced by page %d): invalid type (flags %#x)", id, parent, flags)
		return nil
	}
	if id+overflow >= w.m.pgid {
		w.problem("page %d: overflow %d runs past the high-water mark %d", id, overflow, w.m.pgid)
		return nil
	}
	for i := id; i <= id+overflow; i++ {
		if getBit(w.seen, i) {
			w.problem("page %d: multiple references", i)
			return nil
		}
	}
	for i := id; i <= id+overflow; i++ {
		setBit(w.seen, i)
	}
	w.checked += int(overflow + 1)
	if w.progress != nil && w.checked-w.step >= 1024 {
		w.step = w.checked
		w.progress(min(w.checked, int(w.m.pgid)-1), int(w.m.pgid))
	}
	n := (overflow + 1) * psz
	if uint64(cap(w.buf)) < n {
		w.buf = make([]byte, n)
	}
	buf := w.buf[:n]
	if _, err := w.f.ReadAt(buf, int64(id*psz)); err != nil {
		w.problem("page %d: %v", id, err)
		return nil
	}
	return buf
}

// elems checks the element array of the branch or leaf page p (id for
// messages) and calls fn with each element's offset, key and (for a leaf)
// flags and value.
func (w *walker) elems(id uint64, p []byte, fn func(off int, key []byte, flags uint32, val []byte)) {
	leaf := ne.Uint16(p[8:]) == flagLeaf
	n := int(ne.Uint16(p[10:]))
	if pageHeaderSize+n*elemSize > len(p) {
		w.problem("page %d: %d elements do not fit in the page", id, n)
		return
	}
	var prev []byte
	for i := range n {
		off := pageHeaderSize + i*elemSize
		e := p[off:]
		var pos, ksize, vsize uint64
		var flags uint32
		if leaf {
			flags, pos, ksize, vsize = ne.Uint32(e), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		} else {
			pos, ksize = uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:]))
		}
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(p)) {
			w.problem("page %d: element %d runs past the page", id, i)
			return
		}
		key := p[start : start+ksize]
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			w.problem("page %d: element %d out of key order", id, i)
		}
		prev = key
		fn(off, key, flags, p[start+ksize:start+ksize+vsize])
	}
}

func (w *walker) init() {
	w.seen = make([]uint64, (w.m.pgid+63)/64)
	w.free = make([]uint64, (w.m.pgid+63)/64)
	setBit(w.seen, 0)
	setBit(w.seen, 1)
}

// walk checks the whole file; the problems found are in w.
func (w *walker) walk() {
	w.init()
	if w.m.freelist != noFreelist {
		w.freelist()
	}
	type item struct{ id, parent uint64 }
	stack := []item{{w.m.root, 0}}
	for len(stack) > 0 && w.count < maxProblems {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := w.page(it.id, 0, it.parent)
		if p == nil {
			continue
		}
		branch := ne.Uint16(p[8:]) == flagBranch
		w.elems(it.id, p, func(off int, _ []byte, flags uint32, val []byte) {
			if branch {
				stack = append(stack, item{ne.Uint64(p[off+8:]), it.id})
				return
			}
			if flags&leafBucket == 0 {
				return
			}
			if len(val) < 16 {
				w.problem("page %d: bucket value too short", it.id)
				return
			}
			if root := ne.Uint64(val); root != 0 {
				stack = append(stack, item{root, it.id})
				return
			}
			// An inline bucket: a leaf page inside the value, without
			// sub-buckets.
			inline := val[16:]
			if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != flagLeaf {
				w.problem("page %d: invalid inline bucket", it.id)
				return
			}
			w.elems(it.id, inline, func(_ int, _ []byte, flags uint32, _ []byte) {
				if flags&leafBucket != 0 {
					w.problem("page %d: inline bucket holds a bucket", it.id)
				}
			})
		})
	}
	if w.count > 0 {
		return
	}
	for i := uint64(2); i < w.m.pgid; i++ {
		reach, free := getBit(w.seen, i), getBit(w.free, i)
		switch {
		case reach && free:
			w.problem("page %d: reachable and free", i)
		case !reach && !free:
			w.problem("page %d: unreachable and not free", i)
		}
	}
}

func (w *walker) freelist() {
	p := w.page(w.m.freelist, flagFreelist, 0)
	if p == nil {
		return
	}
	idx, n := 0, uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF {
		idx, n = 1, ne.Uint64(p[pageHeaderSize:])
	}
	if n > uint64(len(p)) || pageHeaderSize+(uint64(idx)+n)*8 > uint64(len(p)) {
		w.problem("freelist page %d: %d ids do not fit in the page", w.m.freelist, n)
		return
	}
	for i := range n {
		id := ne.Uint64(p[pageHeaderSize+(uint64(idx)+i)*8:])
		if id < 2 || id >= w.m.pgid {
			w.problem("freelist page %d: free page %d out of bounds", w.m.freelist, id)
			return
		}
		if getBit(w.free, id) {
			w.problem("freelist page %d: page %d freed twice", w.m.freelist, id)
		}
		setBit(w.free, id)
	}
}

// validateFile checks the file at path before bbolt maps it: valid meta
// pages, the length they say and (when pages is set) the whole page tree.
// A missing or empty file is fine (bbolt creates it) and gives a zero
// meta. progress may be nil.
func validateFile(path string, pages bool, progress func(checked, total int)) (fileMeta, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileMeta{}, nil
	} else if err != nil {
		return fileMeta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileMeta{}, err
	}
	if fi.Size() == 0 {
		return fileMeta{}, nil
	}
	m, err := readMeta(f, fi.Size())
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fileMeta{}, damaged(path, "file is %d bytes, too short for a bbolt file", fi.Size())
	} else if err != nil {
		return fileMeta{}, damaged(path, "%v", err)
	}
	w := &walker{f: f, m: m, progress: progress}
	if pages {
		// Read the file in order first: the walk then reads from the
		// page cache instead of seeking over a cold disk (134 MB: 0.3 s
		// plus 0.1 s instead of 2.4 s).
		if _, err := io.CopyBuffer(io.Discard, io.NewSectionReader(f, 0, int64(m.pgid)*int64(m.pageSize)), make([]byte, 1<<20)); err != nil {
			return m, fmt.Errorf("read %s: %w", path, err)
		}
		w.walk()
	} else {
		// The pages bbolt reads on open: the freelist (a garbage count
		// there is a panic or a huge allocation) and the root.
		w.init()
		if m.freelist != noFreelist {
			w.freelist()
		}
		w.page(m.root, 0, 0)
	}
	return m, w.err(path)
}

// openReadOnly opens path read-only with a short lock timeout, for a check
// or a restore on a stopped daemon; ErrInUse when the daemon holds it.
func openReadOnly(path string) (bdb *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			bdb, err = nil, damaged(path, "bbolt failed to open it: %v", p)
		}
	}()
	bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	} else if err != nil {
		return nil, damaged(path, "bbolt cannot open it: %v", err)
	}
	return bdb, nil
}

// CheckFile checks the database file at path while no daemon runs: the
// meta pages and length, a walk of every page that cannot crash on
// garbage, then bbolt's full consistency check (tx.Check). progress, when
// not nil, is called now and then with pages checked out of the total
// (the file's high-water mark), and with checked == total at the end of a
// clean check. It returns ErrInUse when a running daemon holds the file, a
// *DamagedError (wrapping ErrDamaged) listing the first problems, or nil.
func CheckFile(path string, progress func(checked, total int)) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return damaged(path, "file is empty")
	}
	// The meta pages first: bbolt must not map a file they do not
	// describe.
	if _, err := validateFile(path, false, nil); err != nil {
		return err
	}
	// Then the lock, so that no daemon writes while the pages are walked.
	bdb, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer bdb.Close()
	m, err := validateFile(path, true, progress)
	if err != nil {
		return err
	}
	if m.damaged != "" {
		return damaged(path, "%s", m.damaged)
	}
	if err := checkTx(bdb, path); err != nil {
		return err
	}
	if progress != nil {
		progress(int(m.pgid), int(m.pgid))
	}
	return nil
}

// checkTx runs bbolt's full consistency check on bdb, whose pages the
// walker has already found in bounds (tx.Check reads them through the map
// in a goroutine of its own, where a fault could not be caught).
func checkTx(bdb *bolt.DB, path string) error {
	w := &walker{}
	err := safeView(bdb, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			// Drain the channel: its goroutine reads the file until it
			// has sent everything.
			w.problem("%v", err)
		}
		return nil
	})
	if err != nil {
		return damaged(path, "%v", err)
	}
	return w.err(path)
}

// safeView runs fn in a read transaction of bdb and turns a panic or a
// memory fault in it (bbolt reading a damaged page) into an error wrapping
// ErrDamaged, instead of a crash.
func safeView(bdb *bolt.DB, fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: read failed: %v", ErrDamaged, p)
		}
	}()
	return bdb.View(fn)
}
