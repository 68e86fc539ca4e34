package app

import "github.com/gofiber/fiber/v2"

// handleHealth answers GET /api/health.
func (h *handler) handleHealth(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	return c.JSON(health(c.UserContext(), h.db, h.recv, h.cfg, h.cfg.Now()))
}
