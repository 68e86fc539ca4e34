package store

// A data directory that has held a database must never be silently given
// a new empty one: a database file moved away, deleted or emptied would
// otherwise turn into an empty database on the next start, with every
// delivery, customer and secret gone from view. Open therefore leaves a
// marker beside the file (<file>.marker) once the file is created, and
// refuses a missing or empty file while the marker is there. The way to
// start empty on purpose is `robaws-edge restore --empty` (RestoreEmpty),
// which keeps the current file aside first.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrMissing is wrapped by the error of Open when the database file is
// missing from a data directory that held one.
var ErrMissing = errors.New("database file missing")

// missingError is Open's error for a missing database file.
type missingError struct{ path string }

func (e *missingError) Error() string {
	return fmt.Sprintf("database file %s is missing, but this data directory held one (%s says so), and robaws-edge does not start an empty database in its place: put the file back, or restore a backup with `robaws-edge restore FILE`; to start with an empty database on purpose, run `robaws-edge restore --empty`",
		e.path, markerPath(e.path))
}

// Unwrap returns ErrMissing.
func (e *missingError) Unwrap() error { return ErrMissing }

// markerPath is the marker of the database at path.
func markerPath(path string) string { return path + ".marker" }

const markerText = `This directory holds a robaws-edge database (%s).
While this file exists, robaws-edge refuses to start when that database file
is missing or empty, instead of starting a new empty database.
To start with an empty database on purpose, run: robaws-edge restore --empty
`

// checkHeld refuses a missing or empty file at path when its marker says
// the directory held a database: a *missingError, or a *DamagedError for
// an empty file.
func checkHeld(path string) error {
	fi, err := os.Stat(path)
	missing := errors.Is(err, os.ErrNotExist)
	if err != nil && !missing || err == nil && fi.Size() > 0 {
		// Other errors are bbolt's to report.
		return nil
	}
	if _, err := os.Stat(markerPath(path)); err != nil {
		// No sign of an earlier database: a new one.
		return nil
	}
	if missing {
		return &missingError{path: path}
	}
	return damaged(path, "file is empty (0 bytes), but this data directory held a database (%s says so)", markerPath(path))
}

// markHeld writes the marker of path unless it exists, synced with its
// directory.
func markHeld(path string) error {
	marker := markerPath(path)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	_, err = fmt.Fprintf(f, markerText, filepath.Base(path))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write marker %s: %w", marker, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the directory's entries durable (not on Windows, where a
// directory cannot be opened for sync).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
