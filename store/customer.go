package store

import (
	"context"
	"encoding/json"
	"fmt"
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

// field is one comparable customer field for history.
type field struct {
	name  string
	value any // nil, string or bool
}

func strp(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// fields lists the customer fields that count as changes, flattening the
// address as address.<part>. raw, version, timestamps and last_event_id are
// not changes.
func (c *Customer) fields() []field {
	return []field{
		{"name", c.Name},
		{"email", strp(c.Email)},
		{"phone", strp(c.Phone)},
		{"mobile", strp(c.Mobile)},
		{"vat_number", strp(c.VATNumber)},
		{"address.line1", strp(c.Address.Line1)},
		{"address.line2", strp(c.Address.Line2)},
		{"address.street", strp(c.Address.Street)},
		{"address.street_number", strp(c.Address.StreetNumber)},
		{"address.postal_code", strp(c.Address.PostalCode)},
		{"address.city", strp(c.Address.City)},
		{"address.country", strp(c.Address.Country)},
		{"address.country_code", strp(c.Address.CountryCode)},
		{"role", strp(c.Role)},
		{"pricing_code", strp(c.PricingCode)},
		{"website", strp(c.Website)},
		{"language", strp(c.Language)},
		{"currency", c.Currency},
		{"client_type", strp(c.ClientType)},
		{"is_active", c.IsActive},
	}
}

// ChangeFields lists the field names a history entry's changes may hold, in
// record order (the address flattened as address.<part>).
func ChangeFields() []string {
	var names []string
	for _, f := range (&Customer{}).fields() {
		names = append(names, f.name)
	}
	return names
}

// Diff returns the changed fields from old to c. With old nil (a created
// customer) it returns every non-null, non-empty field.
func (c *Customer) Diff(old *Customer) map[string]Change {
	changes := map[string]Change{}
	newF := c.fields()
	if old == nil {
		for _, f := range newF {
			if f.value != nil && f.value != "" {
				changes[f.name] = Change{From: nil, To: f.value}
			}
		}
		return changes
	}
	oldF := old.fields()
	for i, f := range newF {
		if f.value != oldF[i].value {
			changes[f.name] = Change{From: oldF[i].value, To: f.value}
		}
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
// when stale) and the status.
func applyCustomer(tx *bolt.Tx, in *Customer, now time.Time, ch change) (*Customer, string, error) {
	b := tx.Bucket(bucketCustomers)
	c := *in
	c.Version = c.Version.UTC()
	c.Source, c.LastEventID = ch.source, ch.eventID
	var old *Customer
	if v := b.Get([]byte(c.ID)); v != nil {
		old = new(Customer)
		if err := unmarshalCustomer(v, old, false); err != nil {
			return nil, "", fmt.Errorf("decode customer %s: %w", c.ID, err)
		}
		if c.Version.Before(old.Version) {
			return nil, StatusStale, nil
		}
		c.CreatedAt, c.UpdatedAt, c.historyHead = old.CreatedAt, old.UpdatedAt, old.historyHead
	} else {
		c.CreatedAt, c.UpdatedAt = now, now
	}
	changes := c.Diff(old)
	if old != nil && len(changes) == 0 && ch.source == SourceReplay {
		// Replaying a delivery that changes nothing leaves the record as
		// it is: a replay never applies the same update twice.
		return old, StatusProcessed, nil
	}
	if len(changes) > 0 {
		c.UpdatedAt = now
		h := tx.Bucket(bucketHistory)
		seq, err := h.NextSequence()
		if err != nil {
			return nil, "", err
		}
		entry := historyRecord{
			HistoryEntry: HistoryEntry{CustomerID: c.ID, At: now, LogID: ch.logID, Source: ch.source, Event: ch.event, Changes: changes},
			Prev:         c.historyHead,
		}
		if err := putJSON(h, itob(seq), entry); err != nil {
			return nil, "", err
		}
		c.historyHead = seq
	}
	data, err := marshalCustomer(&c)
	if err != nil {
		return nil, "", err
	}
	if err := b.Put([]byte(c.ID), data); err != nil {
		return nil, "", err
	}
	if err := countRole(tx, old, &c); err != nil {
		return nil, "", err
	}
	return &c, StatusProcessed, nil
}

func countRole(tx *bolt.Tx, old, c *Customer) error {
	stats := tx.Bucket(bucketStats)
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
		return nil
	}
	if o != "" {
		if err := addCounter(stats, o, -1); err != nil {
			return err
		}
	}
	return addCounter(stats, n, 1)
}

// FindCustomerByID returns the customer with raw. Returns ErrNotFound if it does not exist.
func (db *DB) FindCustomerByID(ctx context.Context, id string) (*Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c Customer
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	var stored []*Customer
	err = db.group(ctx, func(tx *bolt.Tx) error {
		applied, unchanged, stale, stored = 0, 0, 0, stored[:0]
		now := db.Now().UTC()
		for _, c := range cs {
			before := tx.Bucket(bucketHistory).Sequence()
			got, status, err := applyCustomer(tx, c, now, change{event: "sync", source: source})
			if err != nil {
				return err
			}
			switch {
			case status == StatusStale:
				stale++
			case tx.Bucket(bucketHistory).Sequence() != before:
				applied++
				stored = append(stored, got)
			default:
				unchanged++
				stored = append(stored, got)
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, c := range stored {
		db.index.put(c)
	}
	return applied, unchanged, stale, nil
}
