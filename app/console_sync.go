package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/robaws"
)

// handleSync answers GET /sync: the running or last sync; start one.
func (cs *console) handleSync(c *fiber.Ctx) error {
	return cs.renderSync(c, fiber.StatusOK, "")
}

// syncView is GET /sync's data.
type syncView struct {
	// Configured says Robaws credentials are set; P is then the running
	// or last sync, and Percent how far a running one got (0 while its
	// total is unknown).
	Configured bool
	P          *robaws.SyncProgress
	Percent    int
	Error      string
}

func (syncView) template() string { return "sync" }

// renderSync renders the sync page with an error ("" for none).
func (cs *console) renderSync(c *fiber.Ctx, code int, errMsg string) error {
	v := syncView{Configured: cs.h.cfg.Syncer != nil, Error: errMsg}
	if s := cs.h.cfg.Syncer; s != nil {
		p := s.Progress()
		v.P = &p
		if p.Total > 0 {
			v.Percent = min(100, p.Fetched*100/p.Total)
		}
	}
	return cs.render(c, code, v)
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
