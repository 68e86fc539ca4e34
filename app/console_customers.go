package app

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// pricingCodes are the pricing codes a customer can have.
var pricingCodes = []string{"A", "B", "C"}

// customersView is GET /customers' data.
type customersView struct {
	Customers    []*store.Customer
	Filter       store.CustomerFilter
	PricingCodes []string
	// Next is the next page's URL; Total counts the cached customers.
	Next  string
	Total int
}

func (customersView) template() string { return "customers" }

// handleCustomers answers GET /customers: search by q, role and pricing
// code, sorted by name.
func (cs *console) handleCustomers(c *fiber.Ctx) error {
	f := store.CustomerFilter{Q: strings.TrimSpace(c.Query("q")), Role: strings.TrimSpace(c.Query("role")), Cursor: c.Query("cursor"), Limit: pageSize,
		Test: c.Query("test") == testInclude}
	if f.PricingCode = c.Query("pricing_code"); f.PricingCode != "" && !slices.Contains(pricingCodes, f.PricingCode) {
		return badRequest("invalid pricing_code: want A, B or C")
	}
	items, next, err := cs.h.db.FindCustomers(c.UserContext(), f)
	if err != nil {
		return err
	}
	nextURL := nextPage("/customers", next, map[string]string{"q": f.Q, "role": f.Role, "pricing_code": f.PricingCode, "test": testForm(f.Test)})
	return cs.render(c, fiber.StatusOK, customersView{Customers: items, Filter: f, PricingCodes: pricingCodes, Next: nextURL, Total: cs.h.db.CustomerCount()})
}

// customerHistorySize and customerDeliveriesSize bound the customer page.
const (
	customerHistorySize    = 100
	customerDeliveriesSize = 20
)

// customerView is GET /customers/{id}'s data.
type customerView struct {
	C *store.Customer
	// History is the newest part of its history; MoreHistory says there
	// is older.
	History     []*store.HistoryEntry
	MoreHistory bool
	// Deliveries are its newest deliveries; MoreDeliveries says there are
	// older ones, on the Deliveries page filtered on this customer
	// (AllDeliveries).
	Deliveries     eventTable
	MoreDeliveries bool
	AllDeliveries  string
	// Raw is Robaws' client object indented, "" when none is kept.
	Raw string
}

func (customerView) template() string { return "customer" }

// handleCustomer answers GET /customers/{id}: the record, its history as a
// timeline and its newest deliveries.
func (cs *console) handleCustomer(c *fiber.Ctx) error {
	id, err := url.PathUnescape(c.Params("id"))
	if err != nil || id == "" {
		return fiber.ErrNotFound
	}
	ctx := c.UserContext()
	cust, err := cs.h.db.FindCustomerByID(ctx, id)
	if err != nil {
		return err
	}
	hist, moreHist, err := cs.h.db.FindHistory(ctx, store.HistoryFilter{CustomerID: id, Limit: customerHistorySize})
	if err != nil {
		return err
	}
	// Every delivery of the customer, whatever became of it (stale,
	// ignored, failed and rejected ones too): one walk of the store's
	// client index, newest first.
	evs, moreEvs, err := cs.h.db.FindLogEntries(ctx, store.LogFilter{ClientID: id, Limit: customerDeliveriesSize})
	if err != nil {
		return err
	}
	var raw string
	if len(cust.Raw) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, cust.Raw, "", "  ") == nil {
			raw = buf.String()
		}
	}
	return cs.render(c, fiber.StatusOK, customerView{C: cust, History: hist, MoreHistory: moreHist != "", Raw: raw,
		Deliveries:     eventTable{Events: evs, Empty: "No delivery of this customer is in the log: what is known of it came from a sync."},
		MoreDeliveries: moreEvs != "", AllDeliveries: "/deliveries?" + url.Values{"client_id": {id}}.Encode(),
	})
}
