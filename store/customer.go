package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Customer is the cached form of a Robaws client (SPEC §2). Optional fields
// are pointers so that "absent" reads as JSON null.
type Customer struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Email       *string         `json:"email"`
	Phone       *string         `json:"phone"`
	Mobile      *string         `json:"mobile"`
	VATNumber   *string         `json:"vat_number"`
	Address     Address         `json:"address"`
	Role        *string         `json:"role"`
	PricingCode *string         `json:"pricing_code"`
	Website     *string         `json:"website"`
	Language    *string         `json:"language"`
	Currency    string          `json:"currency"`
	ClientType  *string         `json:"client_type"`
	IsActive    bool            `json:"is_active"`
	Version     time.Time       `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	LastEventID string          `json:"last_event_id"`
	Source      string          `json:"source"`
	Raw         json.RawMessage `json:"raw,omitempty"`

	// historyHead is the sequence of the newest history entry (0 = none).
	historyHead uint64
}

// Address is a customer's address; missing parts are null.
type Address struct {
	Line1        *string `json:"line1"`
	Line2        *string `json:"line2"`
	Street       *string `json:"street"`
	StreetNumber *string `json:"street_number"`
	PostalCode   *string `json:"postal_code"`
	City         *string `json:"city"`
	Country      *string `json:"country"`
	CountryCode  *string `json:"country_code"`
}

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

// fieldNames lists the customer fields that count as changes, flattening
// the address as address.<part>. raw, version, timestamps and
// last_event_id are not changes.
var fieldNames = [numFields]string{
	"name", "email", "phone", "mobile", "vat_number",
	"address.line1", "address.line2", "address.street", "address.street_number",
	"address.postal_code", "address.city", "address.country", "address.country_code",
	"role", "pricing_code", "website", "language", "currency", "client_type", "is_active",
}

const numFields = 20

// sortedFields holds the indexes of fieldNames in name order, the order in
// which json.Marshal writes a map of changes.
var sortedFields = func() []int {
	idx := make([]int, numFields)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(fieldNames[a], fieldNames[b]) })
	return idx
}()

// fieldValue is one comparable field's value: null, a string or a bool.
type fieldValue struct {
	kind uint8 // valueNull, valueString or valueBool
	b    bool
	s    string
}

const (
	valueNull = iota
	valueString
	valueBool
)

// fieldValues holds a customer's comparable fields, in fieldNames order.
type fieldValues [numFields]fieldValue

func strValue(s string) fieldValue { return fieldValue{kind: valueString, s: s} }

func strp(p *string) fieldValue {
	if p == nil {
		return fieldValue{}
	}
	return strValue(*p)
}

// values fills v with c's comparable fields.
func (c *Customer) values(v *fieldValues) {
	*v = fieldValues{
		strValue(c.Name), strp(c.Email), strp(c.Phone), strp(c.Mobile), strp(c.VATNumber),
		strp(c.Address.Line1), strp(c.Address.Line2), strp(c.Address.Street), strp(c.Address.StreetNumber),
		strp(c.Address.PostalCode), strp(c.Address.City), strp(c.Address.Country), strp(c.Address.CountryCode),
		strp(c.Role), strp(c.PricingCode), strp(c.Website), strp(c.Language), strValue(c.Currency), strp(c.ClientType),
		{kind: valueBool, b: c.IsActive},
	}
}

// any returns the value as a history Change holds it: nil, string or bool.
func (f fieldValue) any() any {
	switch f.kind {
	case valueString:
		return f.s
	case valueBool:
		return f.b
	}
	return nil
}

// initial reports whether a created customer records the field: it is
// neither null nor "".
func (f fieldValue) initial() bool {
	return f.kind != valueNull && !(f.kind == valueString && f.s == "")
}

func (f fieldValue) appendJSON(buf []byte) []byte {
	switch f.kind {
	case valueString:
		return appendString(buf, f.s)
	case valueBool:
		return strconv.AppendBool(buf, f.b)
	}
	return append(buf, "null"...)
}

// changedFields appends to dst the indexes of the fields that changed from
// old to v; with old nil (a created customer), of every non-null,
// non-empty field.
func changedFields(dst []int, old, v *fieldValues) []int {
	for i := range v {
		if old == nil && v[i].initial() || old != nil && v[i] != old[i] {
			dst = append(dst, i)
		}
	}
	return dst
}

// ChangeFields lists the field names a history entry's changes may hold, in
// record order (the address flattened as address.<part>).
func ChangeFields() []string {
	return slices.Clone(fieldNames[:])
}

// Diff returns the changed fields from old to c. With old nil (a created
// customer) it returns every non-null, non-empty field.
func (c *Customer) Diff(old *Customer) map[string]Change {
	var newV, oldV fieldValues
	c.values(&newV)
	var oldP *fieldValues
	if old != nil {
		old.values(&oldV)
		oldP = &oldV
	}
	changes := map[string]Change{}
	for _, i := range changedFields(nil, oldP, &newV) {
		ch := Change{To: newV[i].any()}
		if oldP != nil {
			ch.From = oldV[i].any()
		}
		changes[fieldNames[i]] = ch
	}
	return changes
}

type change struct {
	event   string
	eventID string
	logID   *uint64
	source  string
}

// applyCustomer upserts c unless the stored version is newer (stale). It
// keeps created_at, sets updated_at when a field changed and appends a
// history entry with the changed fields. It returns the stored customer (nil
// when stale), whether a history entry was written, and the status.
func applyCustomer(tx *bolt.Tx, cnt *counters, in *Customer, now time.Time, ch change) (*Customer, bool, string, error) {
	b := tx.Bucket(bucketCustomers)
	c := *in
	c.Version = c.Version.UTC()
	c.Source, c.LastEventID = ch.source, ch.eventID
	key := []byte(c.ID)
	var old *Customer
	var oldV, newV fieldValues
	var oldP *fieldValues
	if v := b.Get(key); v != nil {
		old = new(Customer)
		if err := unmarshalCustomer(v, old, false); err != nil {
			return nil, false, "", fmt.Errorf("decode customer %s: %w", c.ID, err)
		}
		// Older is stale. A replay at an equal version is stale too unless
		// the record came from this very event: versions fall back to the
		// whole-second signature time, so an older delivery of the same
		// second must not roll a later one back.
		if c.Version.Before(old.Version) || ch.source == SourceReplay && c.Version.Equal(old.Version) && old.LastEventID != ch.eventID {
			return nil, false, StatusStale, nil
		}
		c.CreatedAt, c.UpdatedAt, c.historyHead = old.CreatedAt, old.UpdatedAt, old.historyHead
		old.values(&oldV)
		oldP = &oldV
	} else {
		c.CreatedAt, c.UpdatedAt = now, now
	}
	c.values(&newV)
	var changedBuf [numFields]int
	changed := changedFields(changedBuf[:0], oldP, &newV)
	if old != nil && len(changed) == 0 && ch.source == SourceReplay {
		// Replaying a delivery that changes nothing leaves the record as
		// it is: a replay never applies the same update twice.
		return old, false, StatusProcessed, nil
	}
	if old != nil && len(changed) == 0 && ch.source == SourceSync {
		// A sync that changes nothing keeps the provenance of the last
		// change (source, last_event_id); only version and raw move on.
		c.Source, c.LastEventID = old.Source, old.LastEventID
	}
	if len(changed) > 0 {
		c.UpdatedAt = now
		h := tx.Bucket(bucketHistory)
		h.FillPercent = appendFill
		seq, err := h.NextSequence()
		if err != nil {
			return nil, false, "", err
		}
		changes := appendChanges(make([]byte, 0, 64*len(changed)), changed, oldP, &newV)
		entry, err := marshalHistory(c.ID, now, ch.logID, ch.source, ch.event, changes, c.historyHead)
		if err != nil {
			return nil, false, "", err
		}
		if err := h.Put(itob(seq), entry); err != nil {
			return nil, false, "", err
		}
		c.historyHead = seq
	}
	data, err := marshalCustomer(&c)
	if err != nil {
		return nil, false, "", err
	}
	if err := b.Put(key, data); err != nil {
		return nil, false, "", err
	}
	countRole(cnt, old, &c)
	return &c, len(changed) > 0, StatusProcessed, nil
}

func countRole(cnt *counters, old, c *Customer) {
	role := func(p *Customer) string {
		if p == nil {
			return ""
		}
		if p.Role == nil {
			return "role:"
		}
		return "role:" + *p.Role
	}
	o, n := role(old), role(c)
	if o == n {
		return
	}
	if o != "" {
		cnt.add(o, -1)
	}
	cnt.add(n, 1)
}

// FindCustomerByID returns the customer with raw. Returns ErrNotFound if it does not exist.
func (db *DB) FindCustomerByID(ctx context.Context, id string) (*Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c Customer
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCustomers).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		return unmarshalCustomer(v, &c, true)
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// ClientUpdate is one client applied by a sync.
type ClientUpdate struct {
	Customer *Customer
}

// ApplyCustomers applies customers from a sync (source "sync") in one
// transaction, each under the same ordering rule as webhooks, and returns
// how many were applied (changed), unchanged and stale.
func (db *DB) ApplyCustomers(ctx context.Context, cs []*Customer, source string) (applied, unchanged, stale int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, 0, err
	}
	ch := change{event: "sync", source: source}
	var stored []*Customer
	err = db.group(ctx, func(tx *bolt.Tx) error {
		applied, unchanged, stale, stored = 0, 0, 0, stored[:0]
		now := db.Now().UTC()
		// A sync brings clients in id order, so new customers mostly land
		// after each other: fill their pages like the append-only buckets.
		tx.Bucket(bucketCustomers).FillPercent = appendFill
		for _, c := range cs {
			got, changed, status, err := applyCustomer(tx, db.counts, c, now, ch)
			if err != nil {
				return err
			}
			switch {
			case status == StatusStale:
				stale++
			case changed:
				applied++
				stored = append(stored, got)
			default:
				unchanged++
				stored = append(stored, got)
			}
		}
		return nil
	}, func() { db.index.putAll(stored) })
	if err != nil {
		return 0, 0, 0, err
	}
	return applied, unchanged, stale, nil
}
