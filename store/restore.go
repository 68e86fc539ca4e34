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
// was none; two restores in one second get two names). The copy is written
// to a temporary file beside dbPath (mode 0600), synced, renamed over the
// current file, and the directory synced.
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
	if keptAside, err = keepAside(dbPath); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	// Over the current file, which keepAside left in place when it could
	// link it: the path never goes missing.
	if err := os.Rename(tmp.Name(), dbPath); err != nil {
		return keptAside, fmt.Errorf("restore: %w (the previous file is %s)", err, keptAside)
	}
	if err := syncDir(dir); err != nil {
		return keptAside, fmt.Errorf("restore: %w", err)
	}
	return keptAside, nil
}

// keepAside gives the file at path (if any) a second name,
// <path>.before-restore-<UTC time>, with -2, -3 … added when that name is
// taken (two restores in one second), and returns it ("" when there is no
// file). It links the new name, leaving path in place; where the file
// system cannot link, it renames path.
func keepAside(path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	base := fmt.Sprintf("%s.before-restore-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	for i := 1; i <= 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if _, serr := os.Lstat(name); serr == nil {
			continue
		}
		if err := os.Rename(path, name); err != nil {
			return "", fmt.Errorf("keep the current file aside: %w", err)
		}
		return name, nil
	}
	return "", fmt.Errorf("keep the current file aside: names up to %s-1000 are taken", base)
}

// RestoreEmpty puts a new empty database in place of the one at dbPath
// while no daemon runs: the explicit way to start empty where a database
// was (marker.go). The current file, if any, is kept aside as Restore
// does and returned as keptAside. ErrInUse when a running daemon holds it.
func RestoreEmpty(dbPath string) (keptAside string, err error) {
	unlock, err := lockFile(dbPath)
	if err != nil {
		return "", fmt.Errorf("restore --empty: %w", err)
	}
	defer unlock()
	if keptAside, err = keepAside(dbPath); err != nil {
		return "", fmt.Errorf("restore --empty: %w", err)
	}
	if err := os.Remove(dbPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return keptAside, fmt.Errorf("restore --empty: %w (the previous file is %s)", err, keptAside)
	}
	if err := os.Remove(markerPath(dbPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return keptAside, fmt.Errorf("restore --empty: %w", err)
	}
	db, err := Open(dbPath, Options{})
	if err != nil {
		return keptAside, fmt.Errorf("restore --empty: %w", err)
	}
	return keptAside, db.Close()
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
