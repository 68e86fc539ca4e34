package app

import (
	"context"
	"errors"
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleReplayLogEntry answers POST /api/webhook-logs/{id}/replay.
func (h *handler) handleReplayLogEntry(c *fiber.Ctx) error {
	id, err := logID(c)
	if err != nil {
		return err
	}
	if _, err := queryParams(c); err != nil {
		return err
	}
	a, err := replay(c.UserContext(), h.recv, id)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// replay processes log entry id again. Every outcome is a 200 answer whose
// status says what became of the entry, including "rejected" when it still
// does not verify: on the local API a 401 always means the token. Returns
// store.ErrNotFound for an unknown entry, and a conflict when no payload is
// kept or its endpoint is no longer configured.
func replay(ctx context.Context, r *intake.Receiver, id uint64) (*ReplayAnswer, error) {
	a, err := r.Replay(ctx, id)
	if errors.Is(err, store.ErrUnknownEndpoint) {
		return nil, fiber.NewError(fiber.StatusConflict, err.Error())
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// handleReplayLogEntries answers POST /api/webhook-logs/replay?status=….
func (h *handler) handleReplayLogEntries(c *fiber.Ctx) error {
	p, err := queryParams(c, "status")
	if err != nil {
		return err
	}
	status, err := p.oneOf("status", store.StatusFailed, store.StatusRejected)
	if err != nil {
		return err
	} else if status == "" {
		return badRequest("invalid status: required, failed or rejected")
	}
	s, err := replayAll(c.UserContext(), h.db, h.recv, status)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

// replayAll replays every entry with status, oldest first so that a
// customer's updates apply in arrival order. It collects the ids before
// replaying, since each replay moves its entry out of the status index.
func replayAll(ctx context.Context, db *store.DB, r *intake.Receiver, status string) (*ReplaySummary, error) {
	var ids []uint64
	skipped := 0
	f := store.LogFilter{Status: status, Limit: store.MaxLimit}
	for {
		page, next, err := db.FindLogEntries(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if ev.ReplayedDuplicate() {
				// Its event was processed under another entry: a
				// replay would only say duplicate again.
				skipped++
				continue
			}
			ids = append(ids, ev.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(ids)
	s := &ReplaySummary{ByStatus: map[string]int{}, Skipped: skipped}
	for _, id := range ids {
		a, err := r.Replay(ctx, id)
		switch {
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrUnknownEndpoint), errors.Is(err, store.ErrNotFound):
			s.Skipped++ // no payload kept, endpoint gone, or pruned meanwhile
		case err != nil:
			return nil, err
		default:
			s.Replayed++
			s.ByStatus[a.Status]++
		}
	}
	return s, nil
}
