package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleListChanges answers GET /api/changes: history across customers.
func (h *handler) handleListChanges(c *fiber.Ctx) error {
	p, err := queryParams(c, "field", "since", "test", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.HistoryFilter{Cursor: p["cursor"]}
	// Changes of send-test's customers only when asked, as /api/customers.
	if f.Test, err = p.flag("test"); err != nil {
		return err
	}
	if f.Field, err = p.oneOf("field", store.ChangeFields()...); err != nil {
		return err
	}
	if f.Since, err = p.time("since"); err != nil {
		return err
	}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	return findPage(c, f, h.db.FindHistory)
}
