package app

import (
	"crypto/hmac"
	"crypto/subtle"
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

// session admits a page request after sameOrigin: it needs a valid
// session (with a token: one made by logging in and not logged out;
// without: one issued here on first sight), and every POST the session's
// CSRF token in its body or the X-CSRF-Token header (never the query
// string, which ends up in logs, history and Referer).
func (cs *console) session(c *fiber.Ctx) error {
	now := time.Now()
	nonce, ok := cs.verifySession(c.Cookies(sessionCookie), now)
	if ok && cs.haveToken && !cs.sessions.has(nonce, now) {
		ok = false // logged out, or pushed out by newer sessions
	}
	if !ok {
		if cs.haveToken {
			if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
				return c.Redirect("/login", fiber.StatusSeeOther)
			}
			return cs.fail(c, errLoginFirst)
		}
		nonce = cs.newSession(c)
	}
	c.Locals(csrfField, cs.csrfToken(nonce))
	if c.Method() == fiber.MethodPost {
		want := c.Locals(csrfField).(string)
		if subtle.ConstantTimeCompare([]byte(csrfValue(c)), []byte(want)) != 1 {
			return cs.fail(c, errBadCSRF)
		}
	}
	return c.Next()
}

// handleLoginPage answers GET /login: the token form, or the overview when
// there is no token to ask for.
func (cs *console) handleLoginPage(c *fiber.Ctx) error {
	if !cs.haveToken {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	return cs.renderLogin(c, fiber.StatusOK, "")
}

// renderLogin renders the login page with a fresh form: a new nonce in the
// login cookie, good for one POST /login, and the CSRF field bound to it.
func (cs *console) renderLogin(c *fiber.Ctx, code int, errMsg string) error {
	nonce := randomNonce()
	now := time.Now()
	cs.logins.add(nonce, now.Add(loginFormTTL), now)
	c.Cookie(&fiber.Cookie{
		Name: loginCookie, Value: nonce + "." + cs.mac("login:"+nonce), Path: "/login",
		Expires: now.Add(loginFormTTL), HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
	c.Locals(csrfField, cs.mac("csrf-login:"+nonce))
	var data map[string]any
	if errMsg != "" {
		data = map[string]any{"Error": errMsg}
	}
	return cs.render(c, code, "login", data)
}

// loginCSRF checks POST /login's hidden token against its login cookie and
// spends the form: a nonce is good for one attempt.
func (cs *console) loginCSRF(c *fiber.Ctx) bool {
	nonce, sig, ok := strings.Cut(c.Cookies(loginCookie), ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(cs.mac("login:"+nonce))) {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(csrfValue(c)), []byte(cs.mac("csrf-login:"+nonce))) != 1 {
		return false
	}
	return cs.logins.take(nonce, time.Now())
}

// handleLogin answers POST /login: a right token starts a session. A
// throttled address is refused before anything is looked at, whatever it
// sends; a wrong token spends its budget.
func (cs *console) handleLogin(c *fiber.Ctx) error {
	if !cs.haveToken {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	ip := c.Context().RemoteIP()
	if wait := cs.h.throttle.wait(ip); wait > 0 {
		return cs.tooMany(c, wait)
	}
	if !cs.loginCSRF(c) {
		return cs.fail(c, errBadCSRF)
	}
	if !cs.checkToken(bodyValue(c, "token")) {
		if wait := cs.h.throttle.failed(ip); wait > 0 {
			return cs.tooMany(c, wait)
		}
		return cs.renderLogin(c, fiber.StatusUnauthorized, "That is not the token: it is admin.token in the config file.")
	}
	cs.newSession(c)
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
	if nonce, ok := cs.verifySession(c.Cookies(sessionCookie), time.Now()); ok {
		cs.sessions.remove(nonce)
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(1, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
	return c.Redirect("/login", fiber.StatusSeeOther)
}
