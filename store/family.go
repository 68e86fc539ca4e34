package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event families (SPEC §1.8). A delivery of an applying family carries a
// Record, prepared in the request's goroutine (mapped, encoded, keyed);
// the writer applies it in the delivery's transaction after the
// de-duplication and the log entry. The store runs the steps every family
// shares — the version rule, the history entry with its index, the
// counters, the work after the commit — as methods of *Apply; the family's
// Apply adds only what depends on its records. Customers are the one
// applying family today (Customers, customer.go); another (articles, say)
// is a mapper, a Family value and a row in intake's table.

// Family is an applying event family.
type Family struct {
	// Name names the family in errors.
	Name string
	// Bucket holds the family's records by key; it is created on first
	// use.
	Bucket []byte
	// History holds the family's history entries, chained per record;
	// FieldIndex, when set, indexes them by changed field.
	History, FieldIndex []byte
	// Apply applies a.Record in the writer's transaction and sets
	// a.Status (processed or stale). It may run more than once for one
	// delivery (when another write of its group fails), so it keeps its
	// state in a.
	Apply func(a *Apply) error
}

// Record is what a delivery of an applying family changes, prepared
// before the writer sees it.
type Record struct {
	Family *Family
	// Key is the record's key in Family.Bucket: at most 512 bytes.
	Key string
	// Version orders the record's changes (SPEC §1.7).
	Version time.Time
	// Value is the family's prepared value (customers: *PreparedCustomer).
	Value any
}

// Provenance says where a change comes from.
type Provenance struct {
	Endpoint, Event, EventID string
	// Source is SourceWebhook, SourceReplay or SourceSync.
	Source string
	// LogID is the delivery's log entry; nil for a sync.
	LogID *uint64
}

// Apply is one record being applied in the writer's transaction.
type Apply struct {
	Record *Record
	Prov   Provenance
	// Now is the transaction's clock reading (UTC).
	Now time.Time
	// Status is what the family decided: StatusProcessed or StatusStale.
	Status string
	// Changed is set by AddHistory: the record changed.
	Changed bool
	// Result is what the family hands back (customers: the *Customer as
	// stored, for the search index).
	Result any

	tx    *bolt.Tx
	cnt   *counters
	db    *DB
	after []func()
}

func (db *DB) newApply(tx *bolt.Tx, cnt *counters, r *Record, p Provenance, now time.Time) *Apply {
	return &Apply{Record: r, Prov: p, Now: now, tx: tx, cnt: cnt, db: db}
}

// run applies the record with its family's Apply.
func (a *Apply) run() error {
	if err := a.Record.Family.Apply(a); err != nil {
		return fmt.Errorf("apply %s %s: %w", a.Record.Family.Name, a.Record.Key, err)
	}
	return nil
}

func (a *Apply) bucket() (*bolt.Bucket, error) {
	return a.tx.CreateBucketIfNotExists(a.Record.Family.Bucket)
}

// Stored returns the record's stored value, nil when there is none. It is
// bbolt memory, valid until the transaction ends.
func (a *Apply) Stored() ([]byte, error) {
	b, err := a.bucket()
	if err != nil {
		return nil, err
	}
	return b.Get([]byte(a.Record.Key)), nil
}

// Stale applies the version rule (SPEC §1.7) against the stored record,
// which the event storedEventID wrote at version stored: an older version
// is stale, and a replay at an equal version too unless the record came
// from that very event (versions fall back to the whole-second signature
// time, so an older delivery of the same second must not roll a later one
// back).
func (a *Apply) Stale(stored time.Time, storedEventID string) bool {
	v := a.Record.Version
	return v.Before(stored) || a.Prov.Source == SourceReplay && v.Equal(stored) && storedEventID != a.Prov.EventID
}

// Put stores the record's value.
func (a *Apply) Put(value []byte) error {
	b, err := a.bucket()
	if err != nil {
		return err
	}
	return b.Put([]byte(a.Record.Key), value)
}

// AddHistory appends a history entry with changes, chained after prev (the
// record's previous entry, 0 for none), and indexes it by field. It
// returns the entry's sequence, the record's new history head.
func (a *Apply) AddHistory(prev uint64, changes map[string]Change) (uint64, error) {
	fam := a.Record.Family
	h, err := a.tx.CreateBucketIfNotExists(fam.History)
	if err != nil {
		return 0, err
	}
	h.FillPercent = appendFill
	seq, err := h.NextSequence()
	if err != nil {
		return 0, err
	}
	entry := appendHistory(nil, &historyRecord{
		HistoryEntry: HistoryEntry{CustomerID: a.Record.Key, At: a.Now, LogID: a.Prov.LogID, Source: a.Prov.Source, Event: a.Prov.Event, Changes: changes},
		Prev:         prev, Endpoint: a.Prov.Endpoint, EventID: a.Prov.EventID, Version: a.Record.Version,
	})
	if err := h.Put(itob(seq), entry); err != nil {
		return 0, err
	}
	if fam.FieldIndex != nil {
		if err := indexHistory(a.tx, fam.FieldIndex, seq, changes); err != nil {
			return 0, err
		}
	}
	a.Changed = true
	return seq, nil
}

// Count adds delta to the statistics counter name, in the group's batch.
func (a *Apply) Count(name string, delta int64) { a.cnt.add(name, delta) }

// After runs fn after the commit, in commit order, before the delivery is
// answered (in-memory state such as a search index).
func (a *Apply) After(fn func()) { a.after = append(a.after, fn) }

// FindFamilyHistory returns every history entry of fam, oldest first.
func (db *DB) FindFamilyHistory(ctx context.Context, fam *Family) ([]*HistoryEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*HistoryEntry
	err := db.view(func(tx *bolt.Tx) error {
		h := tx.Bucket(fam.History)
		if h == nil {
			return nil
		}
		return h.ForEach(func(k, v []byte) error {
			var r historyRecord
			if err := unmarshalHistory(v, &r); err != nil {
				return fmt.Errorf("decode %s history %d: %w", fam.Name, btoi(k), err)
			}
			e := r.HistoryEntry
			e.Seq = btoi(k)
			out = append(out, &e)
			return nil
		})
	})
	return out, err
}
