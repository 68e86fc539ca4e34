package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/store"
)

// overviewFeedSize is how many of the latest deliveries the overview shows.
const overviewFeedSize = 10

// overviewView is GET /'s data.
type overviewView struct {
	Health Health
	Stats  *Stats
	// Statuses are the log's statuses in the API's order, for the counts.
	Statuses []string
	Forward  []forward.Status
	// Latest are the newest deliveries, live.
	Latest eventTable
}

func (overviewView) template() string { return "overview" }

// handleOverview answers GET /: health with its problems, the tunnel, the
// last 24 hours by status and the latest deliveries (live).
func (cs *console) handleOverview(c *fiber.Ctx) error {
	ctx, h := c.UserContext(), cs.h
	now := h.cfg.Now()
	st, err := stats(ctx, h.db, h.recv, now, false)
	if err != nil {
		return err
	}
	latest, _, err := h.db.FindLogEntries(ctx, store.LogFilter{Limit: overviewFeedSize})
	if err != nil {
		return err
	}
	return cs.render(c, fiber.StatusOK, overviewView{
		Health: health(ctx, h.db, h.recv, h.cfg, now), Stats: st, Statuses: statuses, Forward: h.cfg.Forward.Statuses(),
		Latest: eventTable{Events: latest, Stream: "/deliveries/stream", Max: overviewFeedSize,
			Empty: "No deliveries yet. Robaws' deliveries appear here as they arrive; to try the whole path, run robaws-edge send-test --public."},
	})
}
