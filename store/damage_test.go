package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeDB fills a real database file through the store (several MB) and
// closes it.
func writeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2000)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < 2000; i += 64 {
				d := &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprintf("ev-%d", i), Status: StatusIgnored, Payload: body}
				if _, err := db.Ingest(context.Background(), d); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestOpenDamagedFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated to half", func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to 1 MiB", func(t *testing.T, path string) {
			if err := os.Truncate(path, 1<<20); err != nil {
				t.Fatal(err)
			}
		}},
		{"four garbage pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ps := int64(os.Getpagesize())
			pages := fileSize(t, path) / ps
			r := rand.New(rand.NewPCG(1, 2))
			for range 4 {
				// Pages in the used part of the file, past the metas.
				at := 2 + r.Int64N(pages/2)
				garbage := make([]byte, ps)
				for i := range garbage {
					garbage[i] = byte(r.Uint32())
				}
				if _, err := f.WriteAt(garbage, at*ps); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"garbage meta pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xAB}, 2*os.Getpagesize()), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"ten bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 10); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeDB(t)
			if got := fileSize(t, path); got < 4<<20 {
				t.Fatalf("file size %d, want over 4 MiB for the test to mean anything", got)
			}
			tc.damage(t, path)
			db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want ErrDamaged")
			}
			var de *DamagedError
			if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) {
				t.Fatalf("Open: got %v, want a *DamagedError", err)
			}
			if de.Path != path || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "robaws-edge check") || !strings.Contains(err.Error(), "robaws-edge restore") {
				t.Fatalf("Open: got %q, want it to name %s and the check and restore commands", err, path)
			}
			if err := CheckFile(path, nil); !errors.Is(err, ErrDamaged) {
				t.Fatalf("CheckFile: got %v, want ErrDamaged", err)
			}
			t.Log(err)
		})
	}
}

func TestOpenEmptyFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open of an empty file: got %v, want a new database", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(path, nil); err != nil {
		t.Fatalf("CheckFile: got %v, want nil", err)
	}
}

func TestCheckFile(t *testing.T) {
	path := writeDB(t)
	var calls, last, total int
	err := CheckFile(path, func(c, tot int) {
		calls++
		last, total = c, tot
	})
	if err != nil {
		t.Fatalf("CheckFile: got %v, want nil", err)
	}
	if calls < 2 || last != total || total == 0 {
		t.Fatalf("progress: got %d calls ending at %d/%d, want several ending at total", calls, last, total)
	}
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := CheckFile(path, nil); !errors.Is(err, ErrInUse) {
		t.Fatalf("CheckFile on an open database: got %v, want ErrInUse", err)
	}
}

// backupTo writes a snapshot of db to path, as `robaws-edge backup` does.
func backupTo(t *testing.T, db *DB, path string) {
	t.Helper()
	f, _, err := db.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	dbPath := db.Path()
	dir := filepath.Dir(dbPath)
	backup := filepath.Join(dir, "backup.db")

	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "a", EventID: "kept", Status: StatusIgnored}); err != nil {
		t.Fatal(err)
	}
	backupTo(t, db, backup)
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "a", EventID: "after-backup", Status: StatusIgnored}); err != nil {
		t.Fatal(err)
	}

	if _, err := Restore(dbPath, backup); !errors.Is(err, ErrInUse) {
		t.Fatalf("Restore while open: got %v, want ErrInUse", err)
	}
	db.Close()
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}

	// A damaged backup is refused and the current file stays.
	bad := filepath.Join(dir, "bad.db")
	good, _ := os.ReadFile(backup)
	os.WriteFile(bad, good[:len(good)/2], 0o600)
	if _, err := Restore(dbPath, bad); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Restore of a damaged backup: got %v, want ErrDamaged", err)
	}
	if now, _ := os.ReadFile(dbPath); !bytes.Equal(now, before) {
		t.Fatal("current file changed by a refused restore")
	}

	// A sound bbolt file this binary cannot serve is refused too: one
	// written by a newer schema, one that is not robaws-edge's.
	newer := filepath.Join(dir, "newer.db")
	os.WriteFile(newer, good, 0o600)
	rawFile(t, newer, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, itob(SchemaVersion+1))
	})
	if _, err := Restore(dbPath, newer); err == nil || !strings.Contains(err.Error(), "newer robaws-edge") {
		t.Fatalf("Restore of a newer schema: got %v, want it refused naming the newer version", err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	fdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	fdb.Close()
	if _, err := Restore(dbPath, foreign); err == nil || !strings.Contains(err.Error(), "not a robaws-edge database") {
		t.Fatalf("Restore of another program's bbolt file: got %v, want it refused", err)
	}
	if now, _ := os.ReadFile(dbPath); !bytes.Equal(now, before) {
		t.Fatal("current file changed by a refused restore")
	}

	kept, err := Restore(dbPath, backup)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if aside, _ := os.ReadFile(kept); !bytes.Equal(aside, before) {
		t.Fatalf("kept aside %q: got other content, want the previous file", kept)
	}
	if fi, _ := os.Stat(dbPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: got %v, want 0600", fi.Mode().Perm())
	}
	db, err = Open(dbPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Stats(ctx, time.Time{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if evs.Total != 1 {
		t.Fatalf("restored log entries: got %d, want 1", evs.Total)
	}
}

// TestEmptyOrMissingWhereDatabaseWas: once a database was created in a
// directory, a 0-byte or missing file there is refused with the fix
// (issue 15.5), and restore --empty is the named way to start empty.
func TestEmptyOrMissingWhereDatabaseWas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, ignored("1")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	var de *DamagedError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "file is empty") || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "robaws-edge restore FILE") || !strings.Contains(err.Error(), "robaws-edge restore --empty") {
		t.Fatalf("Open of a 0-byte file where a database was: got %v, want a DamagedError naming it and both restores", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatalf("the refused file: %d bytes, want it left alone", fi.Size())
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "robaws-edge restore FILE") || !strings.Contains(err.Error(), "robaws-edge restore --empty") {
		t.Fatalf("Open of a missing file where a database was: got %v, want ErrMissing naming it and both restores", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused Open created %s", path)
	}

	// restore --empty starts empty on purpose, keeping what is there.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	kept, err := RestoreEmpty(path)
	if err != nil || kept == "" {
		t.Fatalf("RestoreEmpty: kept %q, %v; want the 0-byte file kept aside", kept, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after RestoreEmpty: %v", err)
	}
	if evs, _, err := db.FindLogEntries(ctx, LogFilter{}); err != nil || len(evs) != 0 {
		t.Fatalf("log after RestoreEmpty: %d entries, %v; want none", len(evs), err)
	}
	if _, err := RestoreEmpty(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("RestoreEmpty while open: got %v, want ErrInUse", err)
	}
	db.Close()
	// The new database is guarded like the first.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrMissing) {
		t.Fatalf("Open after the new database went: got %v, want ErrMissing", err)
	}
}

// TestRestoreTwiceInOneSecond: two restores in the same second keep both
// previous files, under two names (issue 15.9).
func TestRestoreTwiceInOneSecond(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	dbPath := db.Path()
	backup := filepath.Join(filepath.Dir(dbPath), "backup.db")
	backupTo(t, db, backup)
	if _, err := db.Ingest(ctx, ignored("first")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	first, _ := os.ReadFile(dbPath)
	var kept []string
	for range 2 {
		k, err := Restore(dbPath, backup)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, k)
	}
	if kept[0] == kept[1] {
		t.Fatalf("both restores kept the previous file as %s", kept[0])
	}
	got, _ := os.ReadFile(kept[0])
	if !bytes.Equal(got, first) {
		t.Fatalf("%s: got other content, want the file before the first restore", kept[0])
	}
	if _, err := os.Stat(kept[1]); err != nil {
		t.Fatal(err)
	}
	t.Log(kept)
}

// TestDamagedMetaPage damages one meta page: a page that is not a meta
// page at all (bbolt panics on it) is refused by Open, CheckFile and
// Restore with a reason and no panic text; one whose meta fails its
// checksum is opened from the other page, as bbolt does, but CheckFile
// reports it and Restore refuses it as a backup (issue 15.10, 17).
func TestDamagedMetaPage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		page  int64
		data  []byte
		at    int64 // offset in the page
		opens bool
		want  string
	}{
		{"first page zeroed", 0, make([]byte, 4096), 0, false, "first meta page: not a meta page"},
		{"first page garbage", 0, bytes.Repeat([]byte{0xAB}, 4096), 0, false, "first meta page: not a meta page"},
		{"second page zeroed", 1, make([]byte, 4096), 0, false, "second meta page: not a meta page"},
		{"first meta checksum", 0, []byte("garbage"), pageHeaderSize + 20, true, "first meta page: meta page checksum mismatch"},
		{"second meta checksum", 1, []byte("garbage"), pageHeaderSize + 20, true, "second meta page: meta page checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeDB(t)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tc.data, tc.page*int64(os.Getpagesize())+tc.at); err != nil {
				t.Fatal(err)
			}
			f.Close()
			noPanic := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "panic") {
					t.Errorf("%s: got %v, want an error saying %q and no panic", what, err, tc.want)
				}
			}
			noPanic("CheckFile", CheckFile(path, nil))
			_, err = Restore(filepath.Join(t.TempDir(), "robaws-edge.db"), path)
			noPanic("Restore of it as a backup", err)
			db, err := Open(path, Options{})
			if tc.opens {
				if err != nil {
					t.Fatalf("Open: %v, want it opened from the sound meta page", err)
				}
				defer db.Close()
				if _, err := db.Ingest(context.Background(), ignored("after")); err != nil {
					t.Fatal(err)
				}
				return
			}
			noPanic("Open", err)
		})
	}
}

func ignored(id string) *Delivery {
	return &Delivery{Endpoint: "customers", Event: "a", EventID: id, Status: StatusIgnored}
}
