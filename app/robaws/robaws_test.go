package robaws_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

const customersPath = "/api/webhooks/robaws/customers"

// MustOpenDB opens a store in a temp dir, closed at cleanup.
func MustOpenDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "robaws-edge.db"), store.Options{QuarantineMaxBytes: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testMap stands in for the customer mapping (app/customer, which this
// package may not import): it decodes the fields makeClients writes, with
// the mapping's id rule (string or number, required) and updatedAt as the
// version. It decodes the whole object, as the real mapping does, so the
// sync benchmark pays for a mapping.
func testMap(data []byte) (*store.Customer, error) {
	var c struct {
		ID      json.RawMessage `json:"id"`
		Name    string          `json:"name"`
		Email   *string         `json:"email"`
		Tel     *string         `json:"tel"`
		Address struct {
			Line1      *string `json:"addressLine1"`
			PostalCode *string `json:"postalCode"`
			City       *string `json:"city"`
			Country    *string `json:"country"`
		} `json:"address"`
		ExtraFields map[string]struct {
			StringValue *string `json:"stringValue"`
		} `json:"extraFields"`
		Currency  string  `json:"currency"`
		Language  *string `json:"language"`
		UpdatedAt string  `json:"updatedAt"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	id := strings.Trim(string(bytes.TrimSpace(c.ID)), `"`)
	if id == "" || id == "null" {
		return nil, errors.New("data.id missing")
	}
	if c.Email != nil {
		e := strings.ToLower(*c.Email)
		c.Email = &e
	}
	cu := &store.Customer{ID: id, Name: c.Name, Email: c.Email, Phone: c.Tel, Currency: c.Currency, Language: c.Language,
		IsActive: true, Raw: bytes.Clone(data)}
	cu.Address.Line1, cu.Address.City = c.Address.Line1, c.Address.City
	if v, err := time.Parse(time.RFC3339Nano, c.UpdatedAt); err == nil {
		cu.Version = v.UTC()
	}
	return cu, nil
}

// clock is a settable clock; Now reads the time set, or runs fn when one is
// set.
type clock struct {
	mu sync.Mutex
	t  time.Time
	fn func() time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fn != nil {
		return c.fn()
	}
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t, c.fn = t, nil
	c.mu.Unlock()
}

func (c *clock) SetFunc(fn func() time.Time) {
	c.mu.Lock()
	c.fn = fn
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (log output).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
