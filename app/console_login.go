package app

// This file holds the pages' guard (sameOrigin, then session) and the
// login and logout pages. Failed logins spend the client address's budget
// of the authThrottle shared with the API's bearer check.

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// errLoginFirst is a console request without a valid session.
var errLoginFirst = fiber.NewError(fiber.StatusUnauthorized, "log in first")

// errBadCSRF is a form post without the page's CSRF token.
var errBadCSRF = fiber.NewError(fiber.StatusForbidden, "this form has expired or did not come from the console: reload the page and try again")

// sameOrigin is the console's half of sameOriginOnly: a browser's
// cross-site request is refused, a same-origin one (Origin equal to the raw
// Host header) is allowed, and a Host that is not this daemon's (hostGuard)
// is refused, token or not (DNS rebinding). X-Forwarded-Host is never read.
func (cs *console) sameOrigin(c *fiber.Ctx) error {
	host := string(c.Request().Header.Host())
	if site := c.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return cs.fail(c, errCrossOrigin)
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" {
		rest, ok := strings.CutPrefix(o, "http://")
		if !ok {
			rest, ok = strings.CutPrefix(o, "https://")
		}
		if !ok || host == "" || !strings.EqualFold(rest, host) {
			return cs.fail(c, errCrossOrigin)
		}
	}
	if !cs.h.hosts.allows(host) {
		return cs.fail(c, errCrossOrigin)
	}
	return c.Next()
}

// session admits a page request after sameOrigin: it needs a session (with
// a token: one made by logging in and not logged out; without: one issued
// here on first sight), and every POST the session's CSRF token in its body
// or the X-CSRF-Token header (never the query string, which ends up in
// logs, history and Referer).
func (cs *console) session(c *fiber.Ctx) error {
	now := time.Now()
	id, ok := cs.sess.find(c, now)
	if !ok {
		if cs.sess.haveToken {
			if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
				return c.Redirect("/login", fiber.StatusSeeOther)
			}
			return cs.fail(c, errLoginFirst)
		}
		id = cs.sess.start(c, now)
	}
	if c.Method() == fiber.MethodPost && !cs.sess.validCSRF(c, id) {
		return cs.fail(c, errBadCSRF)
	}
	c.Locals(csrfField, cs.sess.csrf(id))
	if cs.sess.haveToken {
		c.Locals(streamAlive, func() bool { return cs.sess.live.has(id, time.Now()) })
	}
	return c.Next()
}

// loginView is the login page's data.
type loginView struct {
	// Error says why the last attempt failed; "" on a first visit.
	Error string
}

func (loginView) template() string { return "login" }

// handleLoginPage answers GET /login: the token form, or the overview when
// there is no token to ask for.
func (cs *console) handleLoginPage(c *fiber.Ctx) error {
	if !cs.sess.haveToken {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	return cs.renderLogin(c, fiber.StatusOK, "")
}

// renderLogin renders the login page with a fresh form: a new login cookie,
// good for one POST /login, and the CSRF field bound to it.
func (cs *console) renderLogin(c *fiber.Ctx, code int, errMsg string) error {
	c.Locals(csrfField, cs.sess.newLoginForm(c, time.Now()))
	return cs.render(c, code, loginView{Error: errMsg})
}

// handleLogin answers POST /login: a right token starts a session. A
// throttled address is refused before anything is looked at, whatever it
// sends; a wrong token spends its budget.
func (cs *console) handleLogin(c *fiber.Ctx) error {
	if !cs.sess.haveToken {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	end, wait := cs.h.throttle.begin(c.Context().RemoteIP())
	if wait > 0 {
		return cs.tooMany(c, wait)
	}
	if !cs.sess.spendLoginForm(c, time.Now()) {
		end(true) // no token was looked at: nothing spent
		return cs.fail(c, errBadCSRF)
	}
	right := cs.sess.checkToken(bodyValue(c, "token"))
	end(right)
	if !right {
		return cs.renderLogin(c, fiber.StatusUnauthorized, "That is not the token: it is admin.token in the config file.")
	}
	cs.sess.start(c, time.Now())
	return c.Redirect("/", fiber.StatusSeeOther)
}

// tooMany renders the login page with the throttle's 429 and a fresh form
// for when the wait is over.
func (cs *console) tooMany(c *fiber.Ctx, wait time.Duration) error {
	_, msg := errorStatus(errTooManyAttempts(c, wait)) // sets Retry-After
	return cs.renderLogin(c, fiber.StatusTooManyRequests, strings.ToUpper(msg[:1])+msg[1:]+".")
}

// handleLogout answers POST /logout: the session ends on the server and
// its cookie is cleared.
func (cs *console) handleLogout(c *fiber.Ctx) error {
	cs.sess.end(c)
	return c.Redirect("/login", fiber.StatusSeeOther)
}
