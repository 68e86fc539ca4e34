package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleListCustomers answers GET /api/customers.
func (h *handler) handleListCustomers(c *fiber.Ctx) error {
	p, err := queryParams(c, "q", "role", "pricing_code", "active", "test", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.CustomerFilter{Q: p["q"], Role: p["role"], Cursor: p["cursor"]}
	if f.Test, err = p.flag("test"); err != nil {
		return err
	}
	if f.PricingCode, err = p.oneOf("pricing_code", "A", "B", "C"); err != nil {
		return err
	}
	if f.Active, err = p.bool("active"); err != nil {
		return err
	}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	return findPage(c, f, h.db.FindCustomers)
}

// handleGetCustomer answers GET /api/customers/{id}.
func (h *handler) handleGetCustomer(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := queryParams(c); err != nil {
		return err
	}
	cust, err := h.db.FindCustomerByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

// handleCustomerHistory answers GET /api/customers/{id}/history.
func (h *handler) handleCustomerHistory(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := queryParams(c, "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.HistoryFilter{CustomerID: id, Cursor: p["cursor"]}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	return findPage(c, f, h.db.FindHistory)
}
