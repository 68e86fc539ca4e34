package app

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The web console (SPEC §7): server-rendered html/template pages on the
// local listener, with every asset embedded so that it works on an office
// network without internet, like golink's //go:embed static tmpl/*.html.
// Pages call the same plain functions as the JSON API (health, stats,
// findLogEntry, replay, createWebhook, …), never the API over HTTP.
//
// Its routes are registered before the API's guard middleware and run
// their own: a page may be requested with a same-origin Origin header (a
// form post from the console itself), which the API refuses, and it
// authenticates with a session cookie rather than the bearer header.

//go:embed templates/*.html static/*
var consoleFS embed.FS

// Cookie and form field names of the console.
const (
	sessionCookie = "robaws_edge_session"
	// loginCookie carries the login form's nonce, so that POST /login
	// needs a CSRF token too (login CSRF).
	loginCookie = "robaws_edge_login"
	csrfField   = "csrf"
)

// sessionTTL is how long a console session lasts. Without admin.token the
// session only carries the CSRF secret; with a token it is the login.
const sessionTTL = 24 * time.Hour

// console serves the pages; it is built once by registerConsole.
type console struct {
	h     *handler
	pages map[string]*template.Template
	// key signs session cookies and derives CSRF tokens. It is random per
	// process, so a restart ends every session.
	key []byte
	// tokenSum is the SHA-256 of admin.token, compared in constant time.
	tokenSum  [32]byte
	haveToken bool
	// sessions are the live logins (with admin.token): a session cookie
	// opens pages only while its nonce is here, so logging out ends it on
	// the server too. logins are the login forms handed out, each good for
	// one POST /login.
	sessions, logins *nonceSet
}

// registerConsole adds the console's routes to f. It must run before the
// API's sameOriginOnly and requireToken middleware: the pages have their
// own guard (consoleGuard).
func registerConsole(f *fiber.App, h *handler) {
	cs := &console{h: h, pages: parsePages(), key: make([]byte, 32), haveToken: h.cfg.Token != "",
		sessions: newNonceSet(maxSessions), logins: newNonceSet(maxLoginForms)}
	if _, err := rand.Read(cs.key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	cs.tokenSum = sha256.Sum256([]byte(h.cfg.Token))

	open := cs.sameOrigin // no session needed: assets and the login form
	f.Get("/static/:name", open, cs.handleStatic)
	f.Get("/login", open, cs.page(cs.handleLoginPage))
	f.Post("/login", open, cs.page(cs.handleLogin))

	// Every other page: same origin, then a session (and CSRF on POST).
	get := func(p string, fn fiber.Handler) { f.Get(p, cs.sameOrigin, cs.session, fn) }
	post := func(p string, fn fiber.Handler) { f.Post(p, cs.sameOrigin, cs.session, fn) }
	post("/logout", cs.page(cs.handleLogout))
	get("/", cs.page(cs.handleOverview))
	get("/deliveries", cs.page(cs.handleDeliveries))
	get("/deliveries/stream", cs.page(h.handleStreamEvents))
	post("/deliveries/replay", cs.page(cs.handleReplayAll))
	get("/deliveries/:id", cs.page(cs.handleDelivery))
	post("/deliveries/:id/replay", cs.page(cs.handleReplay))
	get("/customers", cs.page(cs.handleCustomers))
	get("/customers/:id", cs.page(cs.handleCustomer))
	get("/changes", cs.page(cs.handleChanges))
	get("/webhooks", cs.page(cs.handleWebhooks))
	post("/webhooks", cs.page(cs.handleAddSecret))
	post("/webhooks/register", cs.page(cs.handleRegister))
	post("/webhooks/:id/deactivate", cs.page(cs.handleDeactivate))
	get("/sync", cs.page(cs.handleSync))
	post("/sync", cs.page(cs.handleStartSync))
	get("/forward", cs.page(cs.handleForwardList))
	get("/forward/:name", cs.page(cs.handleForwardDest))
	post("/forward/:name/pause", cs.page(cs.handleForwardPause(true)))
	post("/forward/:name/resume", cs.page(cs.handleForwardPause(false)))
	post("/forward/:name/resend", cs.page(cs.handleForwardResend))
	post("/forward/:name/test", cs.page(cs.handleForwardTest))
}

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

// handleStatic serves an embedded asset.
func (cs *console) handleStatic(c *fiber.Ctx) error {
	name := c.Params("name")
	b, err := consoleFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		return cs.fail(c, fiber.ErrNotFound)
	}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	c.Set(fiber.HeaderContentType, types[path.Ext(name)])
	c.Set(fiber.HeaderCacheControl, "max-age=300")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(b)
}

// page turns a page handler's error into an HTML error page.
func (cs *console) page(fn fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := fn(c); err != nil {
			return cs.fail(c, err)
		}
		return nil
	}
}

// fail renders err as an error page with the status the API would answer.
func (cs *console) fail(c *fiber.Ctx, err error) error {
	code, msg := errorStatus(err)
	if code == fiber.StatusInternalServerError {
		cs.h.logger.Error("console request failed", "method", c.Method(), "path", c.Path(), "error", err)
	}
	if code == fiber.StatusNotFound {
		msg = "There is nothing at this address: it may have been pruned, or the link is mistyped."
	}
	return cs.render(c, code, "error", map[string]any{"Code": code, "Message": msg})
}

// view is what every template gets.
type view struct {
	// Page names the page, for the navigation's current item.
	Page string
	// CSRF is the hidden field of every form.
	CSRF string
	// Token says admin.token is set: the layout shows "Log out".
	Token bool
	D     any
}

// render executes page name in the layout with security headers: no
// framing, no inline script, no third-party anything.
func (cs *console) render(c *fiber.Ctx, code int, name string, data any) error {
	t := cs.pages[name]
	if t == nil {
		return errors.New("console: no template " + name)
	}
	v := view{Page: name, Token: cs.haveToken, D: data}
	if s, ok := c.Locals(csrfField).(string); ok {
		v.CSRF = s
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		cs.h.logger.Error("console template failed", "page", name, "error", err)
		return c.Status(fiber.StatusInternalServerError).SendString("internal error")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Frame-Options", "DENY")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	// Every page prints stored text through here: bidi controls in it are
	// shown as markers, never obeyed.
	return c.Status(code).Send(escapeBidi(buf.Bytes()))
}
