package store

// The write path of one delivery (SPEC §1.5–9): Ingest hands it to the
// group commit; in the writer's transaction it is de-duplicated, logged,
// its family's record applied (family.go) and its entry indexed.

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Delivery is what the receiver hands to Ingest: a request already verified
// (or rejected) and parsed, with its family's record prepared when it
// carries one. Status is StatusFailed, StatusIgnored or StatusRejected when decided
// before storing; empty means "apply" (processed or stale, decided in the
// transaction).
type Delivery struct {
	Endpoint           string
	Event              string
	EventID            string
	ClientID           string
	Status             string
	Error              string
	ReceivedAt         time.Time
	DurationUS         int64
	SignatureTimestamp int64
	RemoteAddr         string
	SecretID           string
	// Payload is the raw body; for a rejected delivery it goes to the
	// bounded quarantine together with SignatureHeader.
	Payload         []byte
	SignatureHeader string
	// Signature summarises a rejected delivery's header.
	Signature *SignatureSummary
	// Record is what the delivery changes when its event belongs to an
	// applying family (a customer for client.created/updated), prepared
	// before Ingest: the writer only applies it.
	Record *Record
	// Source is SourceWebhook or SourceReplay.
	Source string
	// ReplayOf, when set, re-processes that log entry in place instead of
	// creating a new one.
	ReplayOf uint64
}

// Result is the outcome of Ingest.
type Result struct {
	Status string `json:"status"`
	LogID  uint64 `json:"log_id"`
}

// Validate reports whether d can be stored.
func (d *Delivery) Validate() error {
	switch d.Status {
	case "", StatusFailed, StatusIgnored, StatusRejected:
	default:
		return fmt.Errorf("invalid delivery status %q", d.Status)
	}
	if d.Endpoint == "" {
		return errors.New("delivery endpoint required")
	}
	return nil
}

// Ingest stores one delivery durably in the group commit, shared with
// concurrent callers: the de-duplication on (endpoint, event id), the log
// entry and, for a delivery of an applying family, its record under the
// version rule with its history, all in one transaction. It returns only
// after the commit; an error means nothing was stored. What can be done
// without the stored state (mapping, encoding the record) is done by the
// caller before (Delivery.Record).
func (db *DB) Ingest(ctx context.Context, d *Delivery) (Result, error) {
	if err := d.Validate(); err != nil {
		return Result{}, err
	}
	var res Result
	var after []func()
	err := db.group(ctx, func(tx *bolt.Tx, cnt *counters) error {
		var err error
		res, after, err = db.ingest(tx, cnt, d)
		return err
	}, func() {
		for _, fn := range after {
			fn()
		}
		if res.LogID != 0 {
			db.watch.publish(res.LogID)
		}
		if res.Status == StatusProcessed {
			db.streams.fire()
		}
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// provenance is where the changes a delivery makes come from; the log id
// is set when the entry has one.
func (d *Delivery) provenance() Provenance {
	source := d.Source
	if source == "" {
		source = SourceWebhook
	}
	return Provenance{Endpoint: d.Endpoint, Event: d.Event, EventID: d.EventID, Source: source}
}

// dedupKey is the de-duplication key of a delivery: endpoint \x00 event id.
func dedupKey(endpoint, eventID string) []byte {
	k := make([]byte, 0, len(endpoint)+1+len(eventID))
	k = append(k, endpoint...)
	k = append(k, 0)
	return append(k, eventID...)
}

// ingest runs one delivery's steps in the group's transaction: de-dup, the
// log entry, the family's record, then the entry's status, keys and
// indexes. It returns what to run after the commit.
func (db *DB) ingest(tx *bolt.Tx, cnt *counters, d *Delivery) (Result, []func(), error) {
	now := db.Now().UTC()
	dkey, dup, err := dedupe(tx, d, now)
	if err != nil || dup.Status != "" {
		return dup, nil, err
	}
	ev, prev, err := db.logEntry(tx, cnt, d, now)
	if err != nil {
		return Result{}, nil, err
	}
	ev.Status = d.Status
	var after []func()
	if d.Status == "" {
		ev.Status = StatusProcessed
		if d.Record != nil {
			p := d.provenance()
			logID := ev.ID
			p.LogID = &logID
			a := db.newApply(tx, cnt, d.Record, p, now)
			if err := a.run(); err != nil {
				return Result{}, nil, err
			}
			ev.Status, after = a.Status, a.after
		}
	}
	if err := db.finishEntry(tx, cnt, ev, prev, dkey, d.ReplayOf != 0, now); err != nil {
		return Result{}, nil, err
	}
	return Result{Status: ev.Status, LogID: ev.ID}, after, nil
}

// dedupe looks a verified delivery's (endpoint, event id) up: a repeat
// counts on the entry that has it (a live delivery grows its deliveries; a
// replay records that it was a duplicate) and returns its result. Else it
// returns the key to store. A rejected delivery is never de-duplicated:
// its event id is unverified.
func dedupe(tx *bolt.Tx, d *Delivery, now time.Time) ([]byte, Result, error) {
	if d.EventID == "" || d.Status == StatusRejected {
		return nil, Result{}, nil
	}
	dkey := dedupKey(d.Endpoint, d.EventID)
	v := tx.Bucket(bucketDedup).Get(dkey)
	if v == nil || btoi(v) == d.ReplayOf {
		return dkey, Result{}, nil
	}
	orig := btoi(v)
	id := orig
	if d.ReplayOf != 0 {
		id = d.ReplayOf
	}
	ev, err := findLogEntry(tx, id)
	if err != nil {
		return nil, Result{}, err
	}
	var sizeBefore int64
	if ev.Status == StatusRejected {
		sizeBefore = rejectedLogSize(tx, ev)
	}
	if d.ReplayOf == 0 {
		ev.Deliveries++
		ev.LastDeliveryAt = now
		if err := tx.Bucket(bucketMeta).Put(keyLastDuplicateAt, itob(uint64(now.UnixNano()))); err != nil {
			return nil, Result{}, err
		}
	} else {
		// A replay whose event was processed meanwhile under another
		// entry: the replayed entry keeps its status and records the
		// outcome, so a bulk replay leaves it alone.
		ev.addStatus(StatusChange{At: now, Status: StatusDuplicate, By: "replay"})
		ev.DuplicateOf = orig
	}
	if err := putLogEntry(tx.Bucket(bucketLogs), ev); err != nil {
		return nil, Result{}, err
	}
	if ev.Status == StatusRejected {
		// A rejected entry counts toward the rejected log's budget as
		// stored: the status history it grew by counts too.
		if _, err := addCounter(tx, keyRejectedLogBytes, rejectedLogSize(tx, ev)-sizeBefore); err != nil {
			return nil, Result{}, err
		}
	}
	return nil, Result{Status: StatusDuplicate, LogID: orig}, nil
}

// logEntry returns the delivery's log entry: a new one with its payload
// (or, rejected, its quarantined request), or for a replay the entry
// replayed, taken out of its indexes. prev is the status it had.
func (db *DB) logEntry(tx *bolt.Tx, cnt *counters, d *Delivery, now time.Time) (ev *LogEntry, prev string, err error) {
	if d.ReplayOf != 0 {
		return replayedEntry(tx, cnt, d)
	}
	logs := tx.Bucket(bucketLogs)
	logs.FillPercent = appendFill
	id, err := logs.NextSequence()
	if err != nil {
		return nil, "", err
	}
	received := d.ReceivedAt
	if received.IsZero() {
		received = now
	}
	ev = &LogEntry{
		ID: id, ReceivedAt: received.UTC(), Endpoint: d.Endpoint, Event: d.Event, EventID: d.EventID,
		ClientID: d.ClientID, Error: d.Error, Deliveries: 1, LastDeliveryAt: received.UTC(),
		DurationUS: d.DurationUS, SignatureTimestamp: d.SignatureTimestamp, RemoteAddr: d.RemoteAddr,
		SecretID: d.SecretID, Signature: d.Signature, Test: IsTestID(d.ClientID),
	}
	switch {
	case d.Status == StatusRejected:
		err = db.quarantine(tx, id, d.SignatureHeader, d.Payload)
	case len(d.Payload) > 0:
		payloads := tx.Bucket(bucketPayloads)
		payloads.FillPercent = appendFill
		err = payloads.Put(itob(id), d.Payload)
	}
	return ev, "", err
}

// replayedEntry takes the replayed entry out of its indexes and gives it
// the replay's parse; a verified replay of a quarantined delivery moves
// its payload out of the quarantine.
func replayedEntry(tx *bolt.Tx, cnt *counters, d *Delivery) (*LogEntry, string, error) {
	ev, err := findLogEntry(tx, d.ReplayOf)
	if err != nil {
		return nil, "", err
	}
	prev := ev.Status
	if len(ev.StatusHistory) == 0 {
		// Entries stored before status histories began.
		ev.StatusHistory = []StatusChange{{At: ev.ReceivedAt, Status: ev.Status, By: "delivery"}}
	}
	if err := unindexLogEntry(tx, cnt, ev); err != nil {
		return nil, "", err
	}
	ev.Endpoint, ev.Event, ev.EventID, ev.ClientID = d.Endpoint, d.Event, d.EventID, d.ClientID
	ev.Error, ev.DurationUS = d.Error, d.DurationUS
	if d.SecretID != "" {
		ev.SecretID = d.SecretID
	}
	if d.Status != StatusRejected && len(d.Payload) > 0 {
		if err := tx.Bucket(bucketPayloads).Put(itob(ev.ID), d.Payload); err != nil {
			return nil, "", err
		}
		if err := dropQuarantined(tx, ev.ID); err != nil {
			return nil, "", err
		}
	}
	return ev, prev, nil
}

// finishEntry records the entry's status, stores it with its de-dup key
// and indexes, appends it to the events stream when it became processed
// and keeps the quarantine within its caps.
func (db *DB) finishEntry(tx *bolt.Tx, cnt *counters, ev *LogEntry, prev string, dkey []byte, replay bool, now time.Time) error {
	change := StatusChange{At: ev.ReceivedAt, Status: ev.Status, By: "delivery"}
	if replay {
		change.At, change.By = now, "replay"
	}
	ev.addStatus(change)
	ev.DuplicateOf = 0
	if dkey != nil {
		if err := tx.Bucket(bucketDedup).Put(dkey, itob(ev.ID)); err != nil {
			return err
		}
	}
	if err := putLogEntry(tx.Bucket(bucketLogs), ev); err != nil {
		return err
	}
	if err := indexLogEntry(tx, cnt, ev); err != nil {
		return err
	}
	if ev.Status == StatusProcessed && prev != StatusProcessed {
		if err := streamProcessed(tx, ev, now); err != nil {
			return err
		}
	}
	if ev.Status == StatusRejected {
		return db.trimQuarantine(tx, cnt, ev.ID)
	}
	return nil
}
