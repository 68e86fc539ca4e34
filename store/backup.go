package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the database to a new temporary
// file (mode 0600) beside it and returns the open file, positioned at the
// start, with its size. The caller streams it and must close and remove it
// (os.Remove(f.Name())).
//
// The copy is made at disk speed inside one read transaction and the
// transaction ends before the caller streams: a slow reader of the backup
// must not hold a snapshot open, because a writer that has to grow the file
// waits for every read transaction (DEPS.md §4.5) and intake would stall.
func (db *DB) Snapshot(ctx context.Context) (*os.File, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	dir := filepath.Dir(db.path)
	// A snapshot whose stream never ran (the client went away first) is
	// left behind; clear those older than an hour.
	if old, _ := filepath.Glob(filepath.Join(dir, ".backup-*.db")); len(old) > 0 {
		for _, p := range old {
			if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(p)
			}
		}
	}
	f, err := os.CreateTemp(dir, ".backup-*.db")
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	var size int64
	if err := db.view(func(tx *bolt.Tx) error {
		var err error
		size, err = tx.WriteTo(f)
		return err
	}); err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return fail(err)
	}
	return f, size, nil
}
