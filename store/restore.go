package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Restore puts the backup at backupPath in place of the database at dbPath
// while no daemon runs. The backup is checked first as CheckFile does (a
// damaged one is refused, with the current file untouched); ErrInUse when a
// running daemon holds dbPath. The current file, if any, is kept aside as
// <dbPath>.before-restore-<UTC time>, returned as keptAside ("" when there
// was none). The copy is written to a temporary file beside dbPath (mode
// 0600), synced, renamed into place, and the directory synced.
func Restore(dbPath, backupPath string) (keptAside string, err error) {
	if err := CheckFile(backupPath, nil); err != nil {
		if errors.Is(err, ErrInUse) {
			return "", fmt.Errorf("restore: backup %s is open by a running robaws-edge: %w", backupPath, err)
		}
		return "", fmt.Errorf("restore: backup refused: %w", err)
	}
	// A sound bbolt file may still be one this binary cannot serve: refuse
	// it now rather than leave a file the daemon will not open.
	if err := checkSchema(backupPath); err != nil {
		return "", fmt.Errorf("restore: backup refused: %w", err)
	}
	// Hold the lock on the current file for the whole swap, so a daemon
	// cannot start on it meanwhile.
	unlock, err := lockFile(dbPath)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer unlock()
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	src, err := os.Open(backupPath)
	if err != nil {
		tmp.Close()
		return "", fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("restore: copy %s: %w", backupPath, err)
	}
	if _, err := os.Stat(dbPath); err == nil {
		keptAside = fmt.Sprintf("%s.before-restore-%s", dbPath, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dbPath, keptAside); err != nil {
			return "", fmt.Errorf("restore: keep the current file aside: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), dbPath); err != nil {
		return keptAside, fmt.Errorf("restore: %w (the previous file is %s)", err, keptAside)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return keptAside, fmt.Errorf("restore: sync %s: %w", dir, err)
		}
	}
	return keptAside, nil
}

// checkSchema reports whether the closed file at path is a robaws-edge
// database this binary can open: a meta bucket with a schema version no
// newer than SchemaVersion (older ones are migrated by Open).
func checkSchema(path string) error {
	bdb, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer bdb.Close()
	var schema []byte
	err = safeView(bdb, func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			schema = meta.Get(keySchema)
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case len(schema) != 8:
		return fmt.Errorf("%s is not a robaws-edge database (no schema version in it)", path)
	case btoi(schema) > SchemaVersion:
		return fmt.Errorf("%s was written by a newer robaws-edge (schema %d; this binary reads up to %d): restore it with that version", path, btoi(schema), SchemaVersion)
	}
	return nil
}
