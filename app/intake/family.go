package intake

import (
	"time"

	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/store"
)

// Family is an event family the receiver knows (SPEC §1.8): which events
// change its records and how a delivery's data becomes the record the
// store applies. Adding one (articles, say) is a mapper, a store.Family
// and an entry here; Config.Families lists them (default: customers).
type Family struct {
	// Name names the family.
	Name string
	// Events are the events that change the family's records; other
	// accepted events are logged processed with nothing else to do.
	Events []string
	// Prepare maps a delivery's data object, signed at t (unix seconds),
	// to its record, in the request's goroutine. An error makes the
	// delivery failed with the error's text.
	Prepare func(data []byte, t int64) (*store.Record, error)
}

// CustomersFamily is the customers family: client.created and
// client.updated map to a store.Customer (SPEC §2) whose version is
// data.updatedAt, else the signature time.
func CustomersFamily(m customer.Mapping) Family {
	return Family{Name: "customers", Events: []string{"client.created", "client.updated"},
		Prepare: func(data []byte, t int64) (*store.Record, error) {
			c, err := customer.Map(data, m)
			if err != nil {
				return nil, err
			}
			if c.Version.IsZero() {
				c.Version = time.Unix(t, 0).UTC()
			}
			return store.PrepareCustomer(c)
		}}
}

// family returns the family whose records event changes, nil for none.
func (r *Receiver) family(event string) *Family {
	for i := range r.families {
		for _, e := range r.families[i].Events {
			if e == event {
				return &r.families[i]
			}
		}
	}
	return nil
}
