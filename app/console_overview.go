package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// overviewFeedSize is how many of the latest deliveries the overview shows.
const overviewFeedSize = 10

// handleOverview answers GET /: health with its problems, the tunnel, the
// last 24 hours by status and the latest deliveries (live).
func (cs *console) handleOverview(c *fiber.Ctx) error {
	ctx, h := c.UserContext(), cs.h
	now := h.cfg.Now()
	hl := health(ctx, h.db, h.recv, h.cfg, now)
	st, err := stats(ctx, h.db, h.recv, now, false)
	if err != nil {
		return err
	}
	latest, _, err := h.db.FindEvents(ctx, store.LogFilter{Limit: overviewFeedSize})
	if err != nil {
		return err
	}
	return cs.render(c, fiber.StatusOK, "overview", map[string]any{
		"Health": hl, "Stats": st, "Statuses": statuses, "Events": latest,
		"Endpoints": h.recv.Endpoints(), "Stream": "/deliveries/stream", "Max": overviewFeedSize,
		"Forward": h.cfg.Forward.Statuses(),
	})
}
