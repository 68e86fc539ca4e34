package app

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/forward"
)

// The console's forwarding pages (SPEC §7, §8): every destination with its
// state, and one destination with its attempts (the target's answers) and
// dead items, each with a Resend button.

// forwardListView is GET /forward's data.
type forwardListView struct {
	Items  []forward.Status
	Notice string
}

func (forwardListView) template() string { return "forward" }

// forwardDestView is GET /forward/{name}'s data.
type forwardDestView struct {
	S        forward.Status
	Attempts []forward.Attempt
	Dead     []DeadItem
	Notice   string
	Error    string
}

func (forwardDestView) template() string { return "forward_dest" }

// handleForwardList answers GET /forward.
func (cs *console) handleForwardList(c *fiber.Ctx) error {
	return cs.render(c, fiber.StatusOK, forwardListView{Items: cs.h.cfg.Forward.Statuses(), Notice: c.Query("notice")})
}

// handleForwardDest answers GET /forward/{name}.
func (cs *console) handleForwardDest(c *fiber.Ctx) error {
	return cs.renderForwardDest(c, fiber.StatusOK, c.Params("name"), c.Query("notice"), "")
}

func (cs *console) renderForwardDest(c *fiber.Ctx, code int, name, notice, errMsg string) error {
	f := cs.h.cfg.Forward
	st, err := f.Status(name)
	if err != nil {
		return err
	}
	attempts, err := f.Attempts(name)
	if err != nil {
		return err
	}
	dead, err := deadItems(c.UserContext(), f, name)
	if err != nil {
		return err
	}
	return cs.render(c, code, forwardDestView{S: st, Attempts: attempts, Dead: dead, Notice: notice, Error: errMsg})
}

// handleForwardPause answers POST /forward/{name}/pause and /resume; back to
// where the form was (the list or the destination).
func (cs *console) handleForwardPause(pause bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := c.Params("name")
		if err := cs.h.cfg.Forward.SetPaused(c.UserContext(), name, pause); err != nil {
			return err
		}
		what := map[bool]string{true: "paused", false: "resumed"}[pause]
		back := "/forward/" + url.PathEscape(name)
		if c.FormValue("back") == "list" {
			back = "/forward"
		}
		return c.Redirect(back+"?notice="+url.QueryEscape(name+" "+what), fiber.StatusSeeOther)
	}
}

// handleForwardResend answers POST /forward/{name}/resend: one item (id),
// every dead item (dead=1), or a filter (since, event, client_id).
func (cs *console) handleForwardResend(c *fiber.Ctx) error {
	name := c.Params("name")
	req := ResendRequest{Dead: c.FormValue("dead") == "1", Event: strings.TrimSpace(c.FormValue("event")),
		ClientID: strings.TrimSpace(c.FormValue("client_id"))}
	if id := strings.TrimSpace(c.FormValue("id")); id != "" {
		req.IDs = []string{id}
	}
	since, err := formTime("since", c.FormValue("since"), false)
	if err != nil {
		return err
	}
	if !since.IsZero() {
		req.Since = &since
	}
	n, err := resend(c.UserContext(), cs.h.cfg.Forward, name, req)
	if err != nil {
		code, msg := errorStatus(err)
		if code == fiber.StatusInternalServerError {
			return err
		}
		return cs.renderForwardDest(c, code, name, "", msg)
	}
	notice := "queued " + strconv.Itoa(n) + " item(s) to send again, after what is pending"
	return c.Redirect("/forward/"+url.PathEscape(name)+"?notice="+url.QueryEscape(notice), fiber.StatusSeeOther)
}

// handleForwardTest answers POST /forward/{name}/test: the target's answer
// to one test item, shown on the destination's page.
func (cs *console) handleForwardTest(c *fiber.Ctx) error {
	name := c.Params("name")
	a, err := cs.h.cfg.Forward.Test(c.UserContext(), name)
	if err != nil {
		return err
	}
	if a.Error != nil {
		return cs.renderForwardDest(c, fiber.StatusOK, name, "", "test item "+a.ItemID+": "+*a.Error)
	}
	return c.Redirect("/forward/"+url.PathEscape(name)+"?notice="+url.QueryEscape("test item "+a.ItemID+" accepted"), fiber.StatusSeeOther)
}
