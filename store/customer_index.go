package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// customerIndex is an in-memory, name-ordered summary of every customer,
// rebuilt from the file at Open and kept current after each commit. It makes
// GET /api/customers?q=… a scan over compact strings instead of a decode of
// every stored record; a trigram index narrows searches for rare texts to a
// few candidates.
type customerIndex struct {
	mu     sync.RWMutex
	sorted []*customerRef // by sortKey
	byID   map[string]*customerRef
	grams  *trigramIndex
}

type customerRef struct {
	id       string
	sortKey  string // lower(name) \x00 id
	haystack string // lower-cased id, name, email, vat, phone, mobile, city joined by \x01
	role     string // upper-case role or ""
	pricing  string
	active   bool
	test     bool  // a send-test customer (IsTestID)
	slot     int32 // in the trigram index

	// During putAll: pending is a ref not yet in sorted, gone one that a
	// newer ref of the same customer replaces.
	pending, gone bool
}

func newCustomerRef(c *Customer) *customerRef {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	// One buffer holds lower(name) \x00 id, then the haystack.
	parts := [...]string{c.ID, c.Name, deref(c.Email), deref(c.VATNumber), deref(c.Phone), deref(c.Mobile), deref(c.Address.City)}
	n := 2*len(c.Name) + 2*len(c.ID) + 1
	for _, p := range parts[2:] {
		n += len(p) + 1
	}
	buf := make([]byte, 0, n)
	buf = appendLower(buf, c.Name)
	buf = append(buf, 0)
	buf = append(buf, c.ID...)
	sortLen := len(buf)
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, 1)
		}
		buf = appendLower(buf, p)
	}
	all := string(buf)
	return &customerRef{
		id:       c.ID,
		sortKey:  all[:sortLen],
		haystack: all[sortLen:],
		role:     deref(c.Role),
		pricing:  deref(c.PricingCode),
		active:   c.IsActive,
		test:     IsTestID(c.ID),
	}
}

// appendLower appends strings.ToLower(s), without allocating for ASCII.
func appendLower(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(buf, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

func (db *DB) loadCustomerIndex() (*customerIndex, error) {
	idx := &customerIndex{byID: map[string]*customerRef{}, grams: newTrigramIndex()}
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCustomers).ForEach(func(k, v []byte) error {
			var c Customer
			if err := unmarshalCustomer(v, &c, false); err != nil {
				return fmt.Errorf("decode customer %s: %w", k, err)
			}
			r := newCustomerRef(&c)
			idx.byID[r.id] = r
			idx.sorted = append(idx.sorted, r)
			return nil
		})
	})
	sort.Slice(idx.sorted, func(i, j int) bool { return idx.sorted[i].sortKey < idx.sorted[j].sortKey })
	for _, r := range idx.sorted {
		idx.grams.add(r)
	}
	return idx, err
}

func (idx *customerIndex) put(c *Customer) {
	idx.putAll([]*Customer{c})
}

// putAll updates the index after customers were stored. Refs are built
// before taking the lock; a changed customer whose sort key stays is
// replaced in place, and new positions are merged in one pass when there
// are many, so a sync of n customers does not move the sorted list n times.
func (idx *customerIndex) putAll(cs []*Customer) {
	refs := make([]*customerRef, len(cs))
	for i, c := range cs {
		refs[i] = newCustomerRef(c)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	// inserts go into sorted, removed (replaced under another sort key)
	// come out of it.
	var inserts, removed []*customerRef
	for _, r := range refs {
		old, ok := idx.byID[r.id]
		if ok {
			if old.sortKey == r.sortKey && old.haystack == r.haystack && old.role == r.role && old.pricing == r.pricing && old.active == r.active {
				continue // nothing searchable changed
			}
			idx.grams.remove(old)
		}
		idx.grams.add(r)
		idx.byID[r.id] = r
		if ok && !old.pending && old.sortKey == r.sortKey {
			if i := idx.search(old.sortKey); i < len(idx.sorted) && idx.sorted[i] == old {
				idx.sorted[i] = r
				continue
			}
		}
		if ok {
			old.gone = true
			if !old.pending {
				removed = append(removed, old)
			}
		}
		r.pending = true
		inserts = append(inserts, r)
	}
	if len(inserts)+len(removed) < 16 {
		for _, old := range removed {
			if i := idx.search(old.sortKey); i < len(idx.sorted) && idx.sorted[i] == old {
				idx.sorted = slices.Delete(idx.sorted, i, i+1)
			}
		}
		for _, r := range inserts {
			r.pending = false
			if !r.gone {
				idx.sorted = slices.Insert(idx.sorted, idx.search(r.sortKey), r)
			}
		}
		return
	}
	inserts = slices.DeleteFunc(inserts, func(r *customerRef) bool { return r.gone })
	slices.SortFunc(inserts, func(a, b *customerRef) int { return strings.Compare(a.sortKey, b.sortKey) })
	sorted := idx.sorted
	if len(removed) > 0 {
		sorted = slices.DeleteFunc(sorted, func(r *customerRef) bool { return r.gone })
	}
	// Copy the runs between insertion points whole.
	merged := make([]*customerRef, 0, len(sorted)+len(inserts))
	prev := 0
	for _, r := range inserts {
		r.pending = false
		pos := prev + sort.Search(len(sorted)-prev, func(k int) bool { return sorted[prev+k].sortKey >= r.sortKey })
		merged = append(merged, sorted[prev:pos]...)
		merged = append(merged, r)
		prev = pos
	}
	idx.sorted = append(merged, sorted[prev:]...)
}

// search returns the first position whose sortKey is >= key.
func (idx *customerIndex) search(key string) int {
	return sort.Search(len(idx.sorted), func(i int) bool { return idx.sorted[i].sortKey >= key })
}

// CustomerFilter selects customers for FindCustomers.
type CustomerFilter struct {
	// Q matches case-insensitively on id, name, email, vat_number, phone,
	// mobile and city.
	Q string
	// Role and PricingCode match exactly (case-insensitively).
	Role        string
	PricingCode string
	// Active, when set, matches is_active.
	Active *bool
	// Test includes send-test customers (ids starting "TEST-").
	Test bool
	// Limit defaults to 50; at most 1000.
	Limit int
	// Cursor is the next_cursor of a previous page.
	Cursor string
}

// Validate checks the filter's limit.
func (f *CustomerFilter) Validate() error {
	if f.Limit < 0 || f.Limit > 1000 {
		return errors.New("limit must be between 1 and 1000")
	}
	return nil
}

// FindCustomers returns customers sorted by name (without raw) and the
// cursor of the next page ("" at the end). Cursors are opaque.
func (db *DB) FindCustomers(ctx context.Context, f CustomerFilter) ([]*Customer, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	q := strings.ToLower(strings.TrimSpace(f.Q))
	role, pricing := strings.ToUpper(f.Role), strings.ToUpper(f.PricingCode)
	var after string
	if f.Cursor != "" {
		// A cursor is the last sort key of a page, lower(name) \x00 id:
		// without the separator it was not handed out here.
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || bytes.IndexByte(b, 0) < 0 {
			return nil, "", ErrInvalidCursor
		}
		after = string(b)
	}
	match := func(r *customerRef) bool {
		return (f.Test || !r.test) && (role == "" || r.role == role) && (pricing == "" || r.pricing == pricing) &&
			(f.Active == nil || r.active == *f.Active) && (q == "" || strings.Contains(r.haystack, q)) &&
			r.sortKey > after
	}
	ids, next := db.index.page(q, after, f.Limit, match)
	out, err := db.loadCustomers(ids)
	return out, next, err
}

// page returns the ids of up to limit matching customers in name order after
// the sort key after, and the cursor of the next page ("" at the end).
func (idx *customerIndex) page(q, after string, limit int, match func(*customerRef) bool) (ids []string, next string) {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	// A text held by few customers: check the trigram candidates and sort
	// the matches. A common one (or a short one): walk in name order until
	// the page is full, which ends early because matches are dense.
	candidates, sparse := idx.grams.candidates(q, len(idx.sorted)/64+limit)
	var page []*customerRef
	if sparse {
		for _, r := range candidates {
			if match(r) {
				page = append(page, r)
			}
		}
		slices.SortFunc(page, func(a, b *customerRef) int { return strings.Compare(a.sortKey, b.sortKey) })
	} else {
		i := 0
		if after != "" {
			i = idx.search(after)
		}
		for ; i < len(idx.sorted) && len(page) <= limit; i++ {
			if r := idx.sorted[i]; match(r) {
				page = append(page, r)
			}
		}
	}
	if len(page) > limit {
		page = page[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(page[limit-1].sortKey))
	}
	for _, r := range page {
		ids = append(ids, r.id)
	}
	return ids, next
}

// loadCustomers reads the customers with these ids (without raw), in order;
// an id deleted since the index was read is left out.
func (db *DB) loadCustomers(ids []string) ([]*Customer, error) {
	out := make([]*Customer, 0, len(ids))
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCustomers)
		for _, id := range ids {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			var c Customer
			if err := unmarshalCustomer(v, &c, false); err != nil {
				return fmt.Errorf("decode customer %s: %w", id, err)
			}
			out = append(out, &c)
		}
		return nil
	})
	return out, err
}

// CustomerCount returns the number of cached customers.
func (db *DB) CustomerCount() int {
	db.index.mu.RLock()
	defer db.index.mu.RUnlock()
	n := 0
	for _, r := range db.index.sorted {
		if !r.test {
			n++
		}
	}
	return n
}
