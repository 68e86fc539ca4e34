//go:build !unix

package store

import (
	"errors"
	"os"
)

// errDiskQuota never matches: no quota error to tell apart here.
var errDiskQuota = errors.New("disk quota exceeded")

// linkCount is unknown here (ok false).
func linkCount(*os.File) (n uint64, ok bool) { return 0, false }
