package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleStats answers GET /api/stats.
func (h *handler) handleStats(c *fiber.Ctx) error {
	p, err := queryParams(c, "test")
	if err != nil {
		return err
	}
	test, err := p.flag("test")
	if err != nil {
		return err
	}
	s, err := stats(c.UserContext(), h.db, h.recv, h.cfg.Now(), test)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

// stats gathers the counters of the log and the customer cache; last_24h
// counts entries received in the 24 hours before now. Send-test data is
// left out unless test.
func stats(ctx context.Context, db *store.DB, r *intake.Receiver, now time.Time, test bool) (*Stats, error) {
	s, err := db.Stats(ctx, now.Add(-24*time.Hour), test)
	if err != nil {
		return nil, err
	}
	out := &Stats{
		Deliveries: DeliveryStats{
			Total: s.Total, ByStatus: map[string]int64{}, ByEvent: s.ByEvent,
			Last24h: RecentStats{Total: s.RecentTotal, ByStatus: map[string]int64{}},
		},
		Customers:       CustomerStats{Total: s.Customers, ByRole: s.ByRole},
		RejectedDropped: r.RejectedDropped(),
	}
	for _, st := range statuses {
		out.Deliveries.ByStatus[st] = s.ByStatus[st]
		out.Deliveries.Last24h.ByStatus[st] = s.RecentByStatus[st]
	}
	if !s.LastReceivedAt.IsZero() {
		t := s.LastReceivedAt.UTC()
		out.Deliveries.LastReceivedAt = &t
	}
	return out, nil
}
