package store

import (
	"context"
	"fmt"
	"io"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Backup is a consistent snapshot of the database being copied out: a bbolt
// read transaction that stays open until Close. Writers keep committing
// meanwhile, but one that has to grow the file waits for the snapshot to end
// (bbolt remaps only when no read transaction is open), so copy it out
// promptly and always Close it.
type Backup struct {
	tx   *bolt.Tx
	once sync.Once
}

// BeginBackup starts a snapshot. The caller must Close it.
func (db *DB) BeginBackup(ctx context.Context) (*Backup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin backup: %w", err)
	}
	return &Backup{tx: tx}, nil
}

// Size is the number of bytes WriteTo writes.
func (b *Backup) Size() int64 { return b.tx.Size() }

// WriteTo writes the snapshot as a complete bbolt file.
func (b *Backup) WriteTo(w io.Writer) (int64, error) { return b.tx.WriteTo(w) }

// Close ends the snapshot. It is safe to call more than once.
func (b *Backup) Close() error {
	var err error
	b.once.Do(func() { err = b.tx.Rollback() })
	return err
}
