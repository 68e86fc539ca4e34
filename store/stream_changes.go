package store

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json/v1"
	bolt "go.etcd.io/bbolt"
)

// loadChanges loads the history entries refs as change items, each with
// the customer as that change left it: the stored record with every later
// change of that customer undone (a history entry holds each changed
// field's from and to), and the fields a change does not record (version,
// source, last_event_id, updated_at) from the entry itself. Entries of one
// customer share one walk back its history chain. A ref whose entry is
// gone is nil.
func loadChanges(tx *bolt.Tx, refs []uint64) ([]*ForwardItem, error) {
	h, customers := tx.Bucket(bucketHistory), tx.Bucket(bucketCustomers)
	out := make([]*ForwardItem, len(refs))
	recs := make([]*historyRecord, len(refs))
	want := map[string]map[uint64]int{} // customer -> seq -> index in refs
	for i, seq := range refs {
		v := h.Get(itob(seq))
		if v == nil {
			continue
		}
		r := new(historyRecord)
		if err := unmarshalHistory(v, r); err != nil {
			return nil, fmt.Errorf("decode history %d: %w", seq, err)
		}
		recs[i] = r
		if want[r.CustomerID] == nil {
			want[r.CustomerID] = map[uint64]int{}
		}
		want[r.CustomerID][seq] = i
	}
	for id, seqs := range want {
		v := customers.Get([]byte(id))
		if v == nil {
			continue
		}
		var state Customer
		if err := unmarshalCustomer(v, &state, false); err != nil {
			return nil, fmt.Errorf("decode customer %s: %w", id, err)
		}
		low := uint64(0)
		for seq := range seqs {
			if low == 0 || seq < low {
				low = seq
			}
		}
		// Newest first: at seq, state is the record as seq left it.
		for seq := state.historyHead; seq != 0 && seq >= low; {
			var r *historyRecord
			if i, ok := seqs[seq]; ok {
				r = recs[i]
				item, err := changeItem(tx, seq, r, state)
				if err != nil {
					return nil, err
				}
				out[i] = item
			} else {
				v := h.Get(itob(seq))
				if v == nil {
					break
				}
				r = new(historyRecord)
				if err := unmarshalHistory(v, r); err != nil {
					return nil, fmt.Errorf("decode history %d: %w", seq, err)
				}
			}
			for name, ch := range r.Changes {
				setChangeField(&state, name, ch.From)
			}
			seq = r.Prev
		}
	}
	return out, nil
}

// changeItem builds the item of history entry seq (r), with c the
// customer as that change left it (a copy is kept).
func changeItem(tx *bolt.Tx, seq uint64, r *historyRecord, c Customer) (*ForwardItem, error) {
	c.Raw, c.UpdatedAt, c.Source = nil, r.At, r.Source
	if !r.Version.IsZero() {
		c.Version = r.Version
	} else {
		// Written before history kept versions: the time of the change
		// is the best order there is.
		c.Version = r.At
	}
	endpoint, eventID := r.Endpoint, r.EventID
	if r.Source != SourceSync && eventID == "" && r.LogID != nil {
		if ev, err := findLogEntry(tx, *r.LogID); err == nil {
			endpoint, eventID = ev.Endpoint, ev.EventID
		}
	}
	c.LastEventID = eventID
	ci := ChangeItem{Seq: seq, CustomerID: r.CustomerID, At: r.At, Source: r.Source, Event: r.Event,
		LogID: r.LogID, Changes: r.Changes, Customer: &c}
	it := &ForwardItem{Ref: seq, At: r.At, Event: changeEvent, LogID: r.LogID, Test: IsTestID(r.CustomerID)}
	switch {
	case r.Source == SourceSync:
		it.Endpoint = SourceSync
		it.ID = "change:sync:" + r.CustomerID + ":" + c.Version.UTC().Format(time.RFC3339Nano)
		ci.LogID = nil
	case eventID != "":
		it.Endpoint = endpoint
		it.ID = "change:" + endpoint + ":" + eventID
		ci.EventID = &eventID
	default:
		// An entry whose delivery is no longer known.
		it.Endpoint = "unknown"
		it.ID = "change:history:" + strconv.FormatUint(seq, 10)
	}
	body, err := json.Marshal(&ci)
	if err != nil {
		return nil, fmt.Errorf("encode change %d: %w", seq, err)
	}
	it.Body = body
	return it, nil
}

// setChangeField sets the field a history entry names (e.g. "role",
// "address.city") to v as a history entry holds it: nil, a string or a
// bool. A name or value that does not fit is left alone.
func setChangeField(c *Customer, name string, v any) {
	for _, f := range changeFields {
		if f.name != name {
			continue
		}
		field := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
		if field.Kind() == reflect.Pointer {
			if v == nil {
				field.SetZero()
				return
			}
			p := reflect.New(field.Type().Elem())
			if rv := reflect.ValueOf(v); rv.Type().AssignableTo(p.Elem().Type()) {
				p.Elem().Set(rv)
				field.Set(p)
			}
			return
		}
		if v == nil {
			field.SetZero()
		} else if rv := reflect.ValueOf(v); rv.Type().AssignableTo(field.Type()) {
			field.Set(rv)
		}
		return
	}
}
