package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LastSyncStarted returns when the last successful customer sync started,
// or the zero time if none has succeeded yet.
func (db *DB) LastSyncStarted(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	var t time.Time
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyLastSyncStarted)
		if v == nil {
			return nil
		}
		return t.UnmarshalText(v)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read last sync start: %w", err)
	}
	return t, nil
}

// SetLastSyncStarted records t as the start of the last successful customer
// sync. It commits before returning.
func (db *DB) SetLastSyncStarted(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := t.UTC().MarshalText()
	if err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyLastSyncStarted, v)
	})
}
