package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// robawsStatePrefix prefixes the meta keys the Robaws client keeps: the
// last daily budget it saw per mode, and the instances that refused
// updatedFrom.
const robawsStatePrefix = "robaws:"

// RobawsState returns the value stored under name by SetRobawsState, or
// nil when there is none.
func (db *DB) RobawsState(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(robawsStatePrefix + name)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read robaws state %s: %w", name, err)
	}
	return out, nil
}

// SetRobawsState stores value under name (a small JSON document of the
// Robaws client's); it commits before returning.
func (db *DB) SetRobawsState(ctx context.Context, name string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(robawsStatePrefix+name), value)
	})
}
