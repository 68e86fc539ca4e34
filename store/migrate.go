package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Schema 1 stored a customer as uvarint(history head), uvarint(len(fields)),
// the fields as the JSON of Customer without raw, then the raw client JSON
// as it came. Schema 2 stores customerRecord as encoding/json writes it.
// The log, history and secrets were JSON in schema 1 already (the old
// encoders wrote what json.Marshal writes) and the quarantine keeps its
// framed format, so customers are the only records to rewrite.

// migrate brings the file to SchemaVersion; a new file starts there. It
// runs in Open's transaction, which also writes the new version: a crash
// or an error leaves the file as it was, at the old version, to migrate
// again on the next Open, and a migrated file is never migrated twice.
func migrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	from := uint64(SchemaVersion)
	if v != nil {
		from = btoi(v)
	}
	switch {
	case from > SchemaVersion:
		return fmt.Errorf("schema version %d is newer than this binary supports (%d)", from, SchemaVersion)
	case v != nil && from == SchemaVersion:
		return nil
	}
	if from < 2 {
		if err := migrateCustomersV1(tx); err != nil {
			return fmt.Errorf("migrate schema %d to 2: %w", from, err)
		}
	}
	if from < 3 {
		if err := migrateIndexesV2(tx); err != nil {
			return fmt.Errorf("migrate schema %d to 3: %w", max(from, 2), err)
		}
	}
	if from < 4 {
		if err := migrateFieldIndexV3(tx); err != nil {
			return fmt.Errorf("migrate schema %d to 4: %w", max(from, 3), err)
		}
	}
	return meta.Put(keySchema, itob(SchemaVersion))
}

// migrateCustomersV1 rewrites every schema 1 customer record as JSON, a
// chunk at a time: bbolt's cursor must not walk a bucket being written.
func migrateCustomersV1(tx *bolt.Tx) error {
	const chunk = 1024
	b := tx.Bucket(bucketCustomers)
	type record struct{ k, v []byte }
	var after []byte
	for {
		recs := make([]record, 0, chunk)
		c := b.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(recs) < chunk; k, v = c.Next() {
			cust, err := decodeCustomerV1(v)
			if err != nil {
				return fmt.Errorf("customer %s: %w", k, err)
			}
			data, err := marshalCustomer(cust)
			if err != nil {
				return fmt.Errorf("customer %s: %w", k, err)
			}
			recs = append(recs, record{bytes.Clone(k), data})
		}
		for _, r := range recs {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
		}
		if len(recs) < chunk {
			return nil
		}
		after = recs[len(recs)-1].k
	}
}

// decodeCustomerV1 decodes a schema 1 customer record. It copies, so v may
// be bbolt memory.
func decodeCustomerV1(v []byte) (*Customer, error) {
	head, hw := binary.Uvarint(v)
	if hw <= 0 {
		return nil, errors.New("corrupt schema 1 customer record")
	}
	v = v[hw:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return nil, errors.New("corrupt schema 1 customer record")
	}
	var c Customer
	if err := json.Unmarshal(v[w:w+int(n)], &c); err != nil {
		return nil, fmt.Errorf("decode schema 1 customer fields: %w", err)
	}
	c.Raw, c.historyHead = nil, head
	if raw := v[w+int(n):]; len(raw) > 0 {
		c.Raw = bytes.Clone(raw)
	}
	return &c, nil
}

// migrateIndexesV2 builds schema 3's indexes and counters from the log of
// a schema 2 file, in Open's transaction (the history's field index comes
// with schema 4).
func migrateIndexesV2(tx *bolt.Tx) error {
	logs := tx.Bucket(bucketLogs)
	cnt := newCounters(tx)
	// Only the last recentKeep before the newest entry gets counters.
	var cutoff time.Time
	if _, v := logs.Cursor().Last(); v != nil {
		var ev LogEntry
		if err := unmarshalLogEntry(v, &ev); err != nil {
			return fmt.Errorf("decode newest log entry: %w", err)
		}
		cutoff = ev.ReceivedAt.Add(-recentKeep - time.Minute)
	}
	err := logs.ForEach(func(k, v []byte) error {
		var ev LogEntry
		if err := unmarshalLogEntry(v, &ev); err != nil {
			return fmt.Errorf("decode log entry %d: %w", btoi(k), err)
		}
		if err := indexKeys(tx, &ev, 1); err != nil {
			return err
		}
		if !ev.ReceivedAt.Before(cutoff) {
			countRecent(cnt, &ev, 1)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return cnt.flushRecent()
}

// migrateFieldIndexV3 replaces schema 3's field index of the history by
// schema 4's, built from the history, in Open's transaction.
func migrateFieldIndexV3(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketIdxHistFieldV3); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	return tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
		var r historyRecord
		if err := unmarshalHistory(v, &r); err != nil {
			return fmt.Errorf("decode history %d: %w", btoi(k), err)
		}
		return indexHistory(tx, bucketIdxHistField, btoi(k), r.Changes)
	})
}
