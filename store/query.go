package store

import (
	"bytes"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// MaxLimit is the largest page any list returns.
const MaxLimit = 1000

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return 50, nil
	case limit < 0 || limit > MaxLimit:
		return 0, fmt.Errorf("limit must be between 1 and %d", MaxLimit)
	}
	return limit, nil
}

// decodeCursor parses a numeric cursor ("" = from the newest).
func decodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, ErrInvalidCursor
	}
	return n, nil
}

// keyWalk yields the 8-byte keys of b newest first, below before (0 = all).
func keyWalk(b *bolt.Bucket, before uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		c := b.Cursor()
		var k []byte
		if before == 0 {
			k, _ = c.Last()
		} else {
			k, _ = c.Seek(itob(before))
			if k == nil {
				k, _ = c.Last()
			}
			if k != nil && btoi(k) >= before {
				k, _ = c.Prev()
			}
		}
		for ; k != nil; k, _ = c.Prev() {
			if !yield(btoi(k)) {
				return
			}
		}
	}
}

// indexWalk yields the ids under prefix in an index bucket (prefix \x00
// itob(id)), newest first, below before (0 = all).
func indexWalk(b *bolt.Bucket, prefix string, before uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		p := append([]byte(prefix), 0)
		seek := indexKey(prefix, ^uint64(0))
		if before != 0 {
			seek = indexKey(prefix, before)
		}
		c := b.Cursor()
		k, _ := c.Seek(seek)
		if k == nil {
			k, _ = c.Last()
		} else if bytes.Compare(k, seek) >= 0 {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Prev() {
			if len(k) == len(p)+8 && !yield(btoi(k[len(p):])) {
				return
			}
		}
	}
}
