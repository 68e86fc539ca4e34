//go:build unix

package store

import (
	"os"
	"syscall"
)

// errDiskQuota is the error of a write past the user's disk quota.
var errDiskQuota error = syscall.EDQUOT

// linkCount returns how many names the open file f has (0: deleted).
func linkCount(f *os.File) (n uint64, ok bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
