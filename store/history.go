package store

// Customer history: one entry per change of a record, chained per record
// (each entry's Prev), indexed by changed field by block of sequences
// (idx_hist_fields), listed newest first.

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Change is one field's old and new value in a history entry.
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// HistoryEntry records what one event changed on one customer.
type HistoryEntry struct {
	Seq        uint64            `json:"-"`
	CustomerID string            `json:"customer_id,omitempty"`
	At         time.Time         `json:"at"`
	LogID      *uint64           `json:"log_id"`
	Source     string            `json:"source"`
	Event      string            `json:"event"`
	Changes    map[string]Change `json:"changes"`
}

// historyChain yields one customer's history sequences newest first,
// following each entry's Prev from head; with before set it starts after
// that entry (which must belong to the chain).
func historyChain(h *bolt.Bucket, head, before uint64) func(yield func(uint64) bool) {
	prev := func(seq uint64) uint64 {
		var r historyRecord
		if v := h.Get(itob(seq)); v == nil || unmarshalHistory(v, &r) != nil {
			return 0
		}
		return r.Prev
	}
	return func(yield func(uint64) bool) {
		seq := head
		if before != 0 {
			// Walk to the cursor so a foreign cursor cannot jump chains.
			for seq != 0 && seq != before {
				seq = prev(seq)
			}
			if seq != 0 {
				seq = prev(seq)
			}
		}
		for ; seq != 0; seq = prev(seq) {
			if !yield(seq) {
				return
			}
		}
	}
}

// HistoryFilter selects history entries. Zero fields match all.
type HistoryFilter struct {
	// CustomerID limits to one customer.
	CustomerID string
	// Field keeps entries that changed this field (e.g. "role").
	Field string
	// Since keeps entries at or after this time.
	Since time.Time
	// Test includes the history of send-test's customers (IsTestID)
	// across customers; it is left out unless asked for, as in the
	// customer list. One customer's history (CustomerID) is always whole.
	Test  bool
	Limit int
	// Cursor is the next_cursor of a previous page.
	Cursor string
}

// FindHistory returns history entries newest first and the next cursor.
// With CustomerID set it returns ErrNotFound for an unknown customer.
func (db *DB) FindHistory(ctx context.Context, f HistoryFilter) ([]*HistoryEntry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	before, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var out []*HistoryEntry
	next := ""
	err = db.view(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		var seqs func(yield func(uint64) bool)
		if f.CustomerID != "" {
			v := tx.Bucket(bucketCustomers).Get([]byte(f.CustomerID))
			if v == nil {
				return ErrNotFound
			}
			var c Customer
			if err := unmarshalCustomer(v, &c, false); err != nil {
				return err
			}
			seqs = historyChain(h, c.historyHead, before)
		} else if f.Field != "" {
			var last uint64
			if k, _ := h.Cursor().Last(); k != nil {
				last = btoi(k)
			}
			seqs = fieldWalk(tx.Bucket(bucketIdxHistField), f.Field, before, last)
		} else {
			seqs = keyWalk(h, before)
		}
		for seq := range seqs {
			v := h.Get(itob(seq))
			if v == nil {
				continue
			}
			var r historyRecord
			if err := unmarshalHistory(v, &r); err != nil {
				return fmt.Errorf("decode history %d: %w", seq, err)
			}
			e := r.HistoryEntry
			e.Seq = seq
			if !f.Since.IsZero() && e.At.Before(f.Since) {
				return nil // history is in time order
			}
			if f.Field != "" {
				if _, ok := e.Changes[f.Field]; !ok {
					continue
				}
			}
			if !f.Test && f.CustomerID == "" && IsTestID(e.CustomerID) {
				continue
			}
			if len(out) == limit {
				next = strconv.FormatUint(out[len(out)-1].Seq, 10)
				return nil
			}
			out = append(out, &e)
		}
		return nil
	})
	return out, next, err
}

// histBlock is how many history sequences one key of the field index
// covers. Keyed by block first, the keys a commit changes (one per field
// its changes touch) sit side by side on one or two leaf pages; keyed by
// field first, as in schema 3, each field's newest key was on a page of its
// own, and BenchmarkIntake measured 11 of a commit's 57 pages written for
// that index (an update of six fields, 15 deliveries a commit). A walk of a
// field that never changed reads one key per block: 200 for 200k entries.
const histBlock = 1024

// histFieldKey is the field index's key of field in block.
func histFieldKey(block uint64, field string) []byte {
	k := make([]byte, 8, 8+len(field))
	binary.BigEndian.PutUint64(k, block)
	return append(k, field...)
}

// indexHistory indexes history entry seq under each field it changed: it
// sets bit seq%histBlock of the field's bitmap for the block.
func indexHistory(tx *bolt.Tx, bucket []byte, seq uint64, changes map[string]Change) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	bit := seq % histBlock
	for field := range changes {
		key := histFieldKey(seq/histBlock, field)
		old := b.Get(key)
		// A new slice: bbolt keeps the value until the commit.
		v := make([]byte, max(len(old), int(bit/8)+1))
		copy(v, old)
		v[bit/8] |= 1 << (bit % 8)
		if err := b.Put(key, v); err != nil {
			return err
		}
	}
	return nil
}

// fieldWalk yields, newest first, the history sequences below before (all
// up to last, the newest sequence, when before is 0) that changed field.
func fieldWalk(b *bolt.Bucket, field string, before, last uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		top := last
		if before != 0 {
			top = min(before-1, last)
		}
		if top == 0 {
			return
		}
		for block := top / histBlock; ; block-- {
			// Bits past the value's end are 0; a longer (damaged) value
			// cannot reach outside its block.
			v := b.Get(histFieldKey(block, field))
			hi := min(len(v)*8, histBlock) - 1
			if block == top/histBlock {
				hi = min(hi, int(top%histBlock))
			}
			for i := hi; i >= 0; i-- {
				if v[i/8]&(1<<(i%8)) != 0 && !yield(block*histBlock+uint64(i)) {
					return
				}
			}
			if block == 0 {
				return
			}
		}
	}
}
