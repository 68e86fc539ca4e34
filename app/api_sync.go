package app

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/robaws"
)

// handleStartSync answers POST /api/sync/customers with 202 and the
// progress; 409 when a sync runs already.
func (h *handler) handleStartSync(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	var req SyncRequest
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	if h.cfg.Syncer == nil {
		return robaws.ErrNoCredentials
	}
	var since time.Time
	if req.Since != nil {
		since = *req.Since
	}
	if err := h.cfg.Syncer.Start(since); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(h.cfg.Syncer.Progress())
}

// handleGetSync answers GET /api/sync.
func (h *handler) handleGetSync(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if h.cfg.Syncer == nil {
		return c.JSON(robaws.SyncProgress{})
	}
	return c.JSON(h.cfg.Syncer.Progress())
}
