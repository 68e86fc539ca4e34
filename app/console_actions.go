package app

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// This file holds the console's form posts. Each has passed the session's
// CSRF check (console.session), calls the function the JSON API calls,
// and redirects (303) to the page that shows the outcome, so a reload does
// not post again. A refused action renders its page with the message.

// handleReplay answers POST /deliveries/{id}/replay.
func (cs *console) handleReplay(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil || id == 0 {
		return fiber.ErrNotFound
	}
	a, err := replay(c.UserContext(), cs.h.recv, id)
	if err != nil {
		return err
	}
	return c.Redirect("/deliveries/"+strconv.FormatUint(id, 10)+"?replayed="+url.QueryEscape(a.Status), fiber.StatusSeeOther)
}

// handleReplayAll answers POST /deliveries/replay (status failed or
// rejected).
func (cs *console) handleReplayAll(c *fiber.Ctx) error {
	status := c.FormValue("status")
	if status != store.StatusFailed && status != store.StatusRejected {
		return badRequest("invalid status: want failed or rejected")
	}
	s, err := replayAll(c.UserContext(), cs.h.db, cs.h.recv, status)
	if err != nil {
		return err
	}
	q := url.Values{"replayed": {strconv.Itoa(s.Replayed)}, "of": {status}}
	return c.Redirect("/deliveries?"+q.Encode(), fiber.StatusSeeOther)
}

// handleAddSecret answers POST /webhooks: a secret known from Robaws.
func (cs *console) handleAddSecret(c *fiber.Ctx) error {
	req := CreateWebhookRequest{Endpoint: c.FormValue("endpoint"), Secret: c.FormValue("secret"),
		WebhookID: c.FormValue("webhook_id"), URL: c.FormValue("url")}
	if _, err := createWebhook(c.UserContext(), cs.h.db, cs.h.recv, req); err != nil {
		return cs.webhooksRefused(c, err)
	}
	return c.Redirect("/webhooks?notice=added", fiber.StatusSeeOther)
}

// handleRegister answers POST /webhooks/register.
func (cs *console) handleRegister(c *fiber.Ctx) error {
	req := RegisterWebhookRequest{Endpoint: c.FormValue("endpoint"), URL: c.FormValue("url"), Force: c.FormValue("force") != ""}
	if _, err := registerWebhook(c.UserContext(), cs.h, req); err != nil {
		return cs.webhooksRefused(c, err)
	}
	return c.Redirect("/webhooks?notice=registered", fiber.StatusSeeOther)
}

// handleDeactivate answers POST /webhooks/{id}/deactivate; with the
// "remote" box ticked the registration is deleted at Robaws too.
func (cs *console) handleDeactivate(c *fiber.Ctx) error {
	id, err := url.PathUnescape(c.Params("id"))
	if err != nil || id == "" {
		return fiber.ErrNotFound
	}
	if c.FormValue("remote") != "" {
		_, err = deleteRemote(c.UserContext(), cs.h, id)
	} else {
		_, err = deactivateWebhook(c.UserContext(), cs.h.db, cs.h.recv, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return err
	} else if err != nil {
		return cs.webhooksRefused(c, err)
	}
	return c.Redirect("/webhooks?notice=deactivated", fiber.StatusSeeOther)
}

// webhooksRefused renders the webhooks page with why an action was
// refused; an internal error stays an error page.
func (cs *console) webhooksRefused(c *fiber.Ctx, err error) error {
	code, msg := errorStatus(err)
	if code == fiber.StatusInternalServerError {
		return err
	}
	return cs.renderWebhooks(c, code, msg, "")
}

// handleStartSync answers POST /sync: starts a customer sync, incremental
// when a date is given.
func (cs *console) handleStartSync(c *fiber.Ctx) error {
	if cs.h.cfg.Syncer == nil {
		return cs.renderSync(c, fiber.StatusConflict, robaws.ErrNoCredentials.Error())
	}
	since, err := formTime("since", c.FormValue("since"), false)
	if err != nil {
		return err
	}
	if err := cs.h.cfg.Syncer.Start(since); err != nil {
		code, msg := errorStatus(err)
		if code == fiber.StatusInternalServerError {
			return err
		}
		return cs.renderSync(c, code, msg)
	}
	return c.Redirect("/sync", fiber.StatusSeeOther)
}
