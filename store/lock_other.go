//go:build !unix

package store

import (
	"errors"
	"fmt"
	"os"
)

// lockFile checks that no daemon holds path by opening it exclusively
// (Windows refuses a second opener of a file bbolt has locked). It returns
// ErrInUse when it cannot; a missing file needs no lock.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	return func() { f.Close() }, nil
}
