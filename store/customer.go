package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Customer is the cached form of a Robaws client (SPEC §2). Optional fields
// are pointers so that "absent" reads as JSON null. A field tagged diff:"-"
// is not a change a history entry records; every other one is (Diff).
// Raw is the client object as Robaws sent it, except that each byte of
// invalid UTF-8 is stored and read as U+FFFD (the delivery's payload keeps
// the bytes as received), so that every answer is valid JSON.
type Customer struct {
	ID          string          `json:"id" diff:"-"`
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
	Version     time.Time       `json:"version" diff:"-"`
	CreatedAt   time.Time       `json:"created_at" diff:"-"`
	UpdatedAt   time.Time       `json:"updated_at" diff:"-"`
	LastEventID string          `json:"last_event_id" diff:"-"`
	Source      string          `json:"source" diff:"-"`
	Raw         json.RawMessage `json:"raw,omitempty" diff:"-"`

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

// OneLine renders the address on one line for people: line1, else the
// street and its number; line2; postal code and city; the country, else
// its code. It is "" when every part is empty.
func (a Address) OneLine() string {
	var parts []string
	if line1 := nonEmpty(a.Line1); len(line1) > 0 {
		parts = append(parts, line1[0])
	} else if street := strings.Join(nonEmpty(a.Street, a.StreetNumber), " "); street != "" {
		parts = append(parts, street)
	}
	parts = append(parts, nonEmpty(a.Line2)...)
	if city := strings.Join(nonEmpty(a.PostalCode, a.City), " "); city != "" {
		parts = append(parts, city)
	}
	if c := nonEmpty(a.Country); len(c) > 0 {
		parts = append(parts, c[0])
	} else if c := nonEmpty(a.CountryCode); len(c) > 0 {
		parts = append(parts, c[0])
	}
	return strings.Join(parts, ", ")
}

// nonEmpty returns the trimmed values of ss that are set and not blank.
func nonEmpty(ss ...*string) []string {
	var out []string
	for _, s := range ss {
		if s != nil && strings.TrimSpace(*s) != "" {
			out = append(out, strings.TrimSpace(*s))
		}
	}
	return out
}

// changeField is a customer field whose changes a history entry records:
// its name there (the address flattened as address.<part>) and its place
// in Customer.
type changeField struct {
	name  string
	index []int
}

// changeFields lists Customer's fields in declaration order under their
// JSON names, except those tagged diff:"-". Their values are strings and
// bools or pointers to them, so that they compare with == and read back
// from a history entry's JSON as they were.
var changeFields = func() []changeField {
	var out []changeField
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" || f.Tag.Get("diff") == "-" {
				continue
			}
			at := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".", at)
				continue
			}
			if k := derefType(f.Type).Kind(); k != reflect.String && k != reflect.Bool {
				panic("store: change field " + prefix + name + " is neither a string nor a bool")
			}
			out = append(out, changeField{name: prefix + name, index: at})
		}
	}
	walk(reflect.TypeFor[Customer](), "", nil)
	return out
}()

func derefType(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// value returns the field of c as a history Change holds it: nil (a nil
// pointer), a string or a bool.
func (f changeField) value(c *Customer) any {
	v := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return v.Interface()
}

// ChangeFields lists the field names a history entry's changes may hold, in
// record order (the address flattened as address.<part>).
func ChangeFields() []string {
	names := make([]string, len(changeFields))
	for i, f := range changeFields {
		names[i] = f.name
	}
	return names
}

// Diff returns the changed fields from old to c. With old nil (a created
// customer) it returns every non-null, non-empty field.
func (c *Customer) Diff(old *Customer) map[string]Change {
	changes := map[string]Change{}
	for _, f := range changeFields {
		to := f.value(c)
		switch {
		case old == nil && to != nil && to != "":
			changes[f.name] = Change{To: to}
		case old != nil:
			if from := f.value(old); from != to {
				changes[f.name] = Change{From: from, To: to}
			}
		}
	}
	return changes
}

// Customers is the customers family (SPEC §1.8, §2): client.created and
// client.updated deliveries and syncs keep a customer record each, keyed
// by its id, with a history chained per customer and indexed by field.
var Customers = &Family{Name: "customers", Bucket: bucketCustomers, History: bucketHistory, FieldIndex: bucketIdxHistField, Apply: applyCustomer}

// PreparedCustomer is a customer ready for the writer: the record as
// mapped, and its JSON without what depends on the stored one.
type PreparedCustomer struct {
	Customer *Customer
	body     []byte
}

// PrepareCustomer turns a mapped customer into the record a delivery or a
// sync hands to the store; it encodes it, so call it outside the writer.
func PrepareCustomer(c *Customer) (*Record, error) {
	p := *c
	p.Version = p.Version.UTC()
	p.Raw = validUTF8(p.Raw)
	p.CreatedAt, p.UpdatedAt, p.historyHead = time.Time{}, time.Time{}, 0
	body, err := marshalCustomerBody(&p)
	if err != nil {
		return nil, fmt.Errorf("encode customer %s: %w", p.ID, err)
	}
	return &Record{Family: Customers, Key: p.ID, Version: p.Version, Value: &PreparedCustomer{Customer: &p, body: body}}, nil
}

// applyCustomer is the customers family's Apply: the version rule against
// the stored record, created_at kept and updated_at set when a field
// changed, a history entry with the changed fields, the role counters and
// the search index. a.Result is the customer as stored.
func applyCustomer(a *Apply) error {
	p := a.Record.Value.(*PreparedCustomer)
	c := *p.Customer
	c.Source, c.LastEventID = a.Prov.Source, a.Prov.EventID
	v, err := a.Stored()
	if err != nil {
		return err
	}
	var old *Customer
	if v != nil {
		old = new(Customer)
		if err := unmarshalCustomer(v, old, false); err != nil {
			return fmt.Errorf("decode customer %s: %w", c.ID, err)
		}
		if a.Stale(old.Version, old.LastEventID) {
			a.Status = StatusStale
			return nil
		}
		c.CreatedAt, c.UpdatedAt, c.historyHead = old.CreatedAt, old.UpdatedAt, old.historyHead
	} else {
		c.CreatedAt, c.UpdatedAt = a.Now, a.Now
	}
	a.Status = StatusProcessed
	changed := c.Diff(old)
	if old != nil && len(changed) == 0 {
		switch a.Prov.Source {
		case SourceReplay:
			// Replaying a delivery that changes nothing leaves the
			// record as it is: a replay never applies the same update
			// twice.
			a.Result = old
			return nil
		case SourceSync:
			// A sync that changes nothing keeps the provenance of the
			// last change (source, last_event_id); only version and raw
			// move on.
			c.Source, c.LastEventID = old.Source, old.LastEventID
		}
	}
	if len(changed) > 0 {
		c.UpdatedAt = a.Now
		if c.historyHead, err = a.AddHistory(c.historyHead, changed); err != nil {
			return err
		}
	}
	if err := a.Put(appendCustomerTail(p.body, &c)); err != nil {
		return err
	}
	countRole(a, old, &c)
	stored := &c
	a.Result = stored
	a.After(func() { a.db.index.put(stored) })
	return nil
}

func countRole(a *Apply, old, c *Customer) {
	if IsTestID(c.ID) {
		return // send-test data stays out of the statistics
	}
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
		a.Count(o, -1)
	}
	a.Count(n, 1)
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

// ApplyCustomers applies customers from a sync (source "sync") in one
// transaction, each under the same ordering rule as webhooks, and returns
// how many were applied (changed), unchanged and stale.
func (db *DB) ApplyCustomers(ctx context.Context, cs []*Customer, source string) (applied, unchanged, stale int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, 0, err
	}
	// Prepared here, in the sync's goroutine: the writer only applies.
	recs := make([]*Record, len(cs))
	for i, c := range cs {
		if recs[i], err = PrepareCustomer(c); err != nil {
			return 0, 0, 0, err
		}
	}
	prov := Provenance{Event: "sync", Source: source}
	var stored []*Customer
	err = db.group(ctx, func(tx *bolt.Tx, cnt *counters) error {
		applied, unchanged, stale, stored = 0, 0, 0, stored[:0]
		now := db.Now().UTC()
		// A sync brings clients in id order, so new customers mostly land
		// after each other: fill their pages like the append-only buckets.
		tx.Bucket(bucketCustomers).FillPercent = appendFill
		for _, r := range recs {
			a := db.newApply(tx, cnt, r, prov, now)
			if err := a.run(); err != nil {
				return err
			}
			c, _ := a.Result.(*Customer)
			switch {
			case a.Status == StatusStale:
				stale++
			case a.Changed:
				applied++
				stored = append(stored, c)
			default:
				unchanged++
				stored = append(stored, c)
			}
		}
		return nil
	}, func() {
		db.index.putAll(stored)
		if applied > 0 {
			db.streams.fire()
		}
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return applied, unchanged, stale, nil
}
