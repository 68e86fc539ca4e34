package app

import (
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleWebhooks answers GET /webhooks: registrations and config secrets
// (hints only) with the forms to add a secret, register and deactivate.
func (cs *console) handleWebhooks(c *fiber.Ctx) error {
	return cs.renderWebhooks(c, fiber.StatusOK, "", webhookNotices[c.Query("notice")])
}

// webhookNotices are the messages a webhooks action redirects with.
var webhookNotices = map[string]string{
	"added":       "Secret added: deliveries signed with it are accepted from now on. Replay the rejected ones on the Deliveries page.",
	"registered":  "Registered with Robaws: its secret is stored and in use.",
	"deactivated": "Deactivated: deliveries signed with that secret are refused from now on.",
}

// webhooksView is GET /webhooks' data.
type webhooksView struct {
	Webhooks  []*Webhook
	Endpoints []*intake.Endpoint
	// Active counts each endpoint's secrets in use, by endpoint name.
	Active map[string]int
	// CanRegister says Robaws credentials are set; PublicURL is the
	// tunnel's, "" while it is not online.
	CanRegister bool
	PublicURL   string
	// HaveRejected says the log holds a rejected delivery (to replay once
	// the right secret is here).
	HaveRejected  bool
	Error, Notice string
}

func (webhooksView) template() string { return "webhooks" }

// renderWebhooks renders the webhooks page with an error or a notice.
func (cs *console) renderWebhooks(c *fiber.Ctx, code int, errMsg, noticeMsg string) error {
	ctx, h := c.UserContext(), cs.h
	list, err := listWebhooks(ctx, h.db, h.recv)
	if err != nil {
		return err
	}
	active := map[string]int{}
	for _, ep := range h.recv.Endpoints() {
		active[ep.Name] = len(h.recv.ActiveSecrets(ep, h.cfg.Now()))
	}
	rejected, _, err := h.db.FindLogEntries(ctx, store.LogFilter{Status: store.StatusRejected, Limit: 1})
	if err != nil {
		return err
	}
	return cs.render(c, code, webhooksView{Webhooks: list, Endpoints: h.recv.Endpoints(), Active: active, CanRegister: h.cfg.Registrar != nil,
		PublicURL: h.cfg.Tunnel().PublicURL, HaveRejected: len(rejected) > 0, Error: errMsg, Notice: noticeMsg})
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
