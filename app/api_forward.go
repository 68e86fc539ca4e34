package app

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/store"
)

// The forwarding routes (SPEC §8): destinations, their attempts and dead
// items, pause, resume, resend and a test item.

// handleListForward answers GET /api/forward.
func (h *handler) handleListForward(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	return c.JSON(Page[forward.Status]{Items: nonNil(h.cfg.Forward.Statuses())})
}

// handleForwardAttempts answers GET /api/forward/{name}/attempts.
func (h *handler) handleForwardAttempts(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	list, err := h.cfg.Forward.Attempts(c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(Page[forward.Attempt]{Items: nonNil(list)})
}

// handleForwardDead answers GET /api/forward/{name}/dead.
func (h *handler) handleForwardDead(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	list, err := deadItems(c.UserContext(), h.cfg.Forward, c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(Page[DeadItem]{Items: nonNil(list)})
}

// deadItems lists destination name's dead items, newest first.
func deadItems(ctx context.Context, f *forward.Forwarder, name string) ([]DeadItem, error) {
	dead, err := f.Dead(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]DeadItem, 0, len(dead))
	for _, d := range dead {
		out = append(out, deadItem(d))
	}
	return out, nil
}

func deadItem(d store.ForwardDead) DeadItem {
	return DeadItem{ItemID: d.ItemID, LogID: d.LogID, DeadAt: d.DeadAt, Attempts: d.Attempts, LastStatusCode: d.LastStatusCode, LastError: d.LastError}
}

// handleForwardPause answers POST /api/forward/{name}/pause and /resume with
// the destination's state.
func (h *handler) handleForwardPause(pause bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if _, err := queryParams(c); err != nil {
			return err
		}
		f, name := h.cfg.Forward, c.Params("name")
		if err := f.SetPaused(c.UserContext(), name, pause); err != nil {
			return err
		}
		st, err := f.Status(name)
		if err != nil {
			return err
		}
		return c.JSON(st)
	}
}

// handleForwardResend answers POST /api/forward/{name}/resend.
func (h *handler) handleForwardResend(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	var req ResendRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	n, err := resend(c.UserContext(), h.cfg.Forward, c.Params("name"), req)
	if err != nil {
		return err
	}
	return c.JSON(ResendAnswer{Queued: n})
}

// resend queues the items req selects to be sent to destination name
// again, after what is pending, and returns how many.
func resend(ctx context.Context, f *forward.Forwarder, name string, req ResendRequest) (int, error) {
	r := forward.ResendRequest{IDs: req.IDs, Dead: req.Dead, Event: req.Event, ClientID: req.ClientID}
	if req.Since != nil {
		r.Since = *req.Since
	}
	return f.Resend(ctx, name, r)
}

// handleForwardTest answers POST /api/forward/{name}/test with the target's
// answer to one test item.
func (h *handler) handleForwardTest(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	a, err := h.cfg.Forward.Test(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}
