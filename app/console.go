package app

import (
	"bytes"
	"errors"
	"html/template"
	"net/url"
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
// The console's rooms: this file (the console, rendering, error pages),
// console_templates.go (the templates and their helpers),
// console_session.go and console_login.go (sessions, CSRF, login, the
// pages' guard), then a file per page with its view and its form posts:
// console_overview.go, console_deliveries.go, console_customers.go,
// console_changes.go, console_webhooks.go, console_sync.go,
// console_forward.go. A GET page reads its query leniently (a form sends
// empty fields; people mistype) and renders one template. A form post has
// passed the session's CSRF check, calls the function the JSON API calls,
// and redirects (303) to the page that shows the outcome, so a reload does
// not post again; a refused action renders its page with the message.

// console serves the pages; NewLocal builds one.
type console struct {
	h     *handler
	pages map[string]*template.Template
	sess  *sessions
}

// newConsole parses the templates; a restart draws a new session key.
func newConsole(h *handler) *console {
	return &console{h: h, pages: parsePages(), sess: newSessions(h.cfg.Token)}
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
	return cs.render(c, code, errorView{Code: code, Message: msg})
}

// errorView is the error page's data.
type errorView struct {
	Code    int
	Message string
}

// pageView is the data of one page: a struct of its own per template, like
// golink's homeData and detailData, so that a field a template misspells
// fails at execution (every page is rendered by TestConsolePages) instead
// of printing nothing. template names the page's template; each view's
// method stands beside it.
type pageView interface{ template() string }

func (errorView) template() string { return "error" }

// layoutView is what the layout template gets: the page's own view in D.
type layoutView struct {
	// Page names the page, for the navigation's current item.
	Page string
	// CSRF is the hidden field of every form.
	CSRF string
	// Token says admin.token is set: the layout shows "Log out".
	Token bool
	D     pageView
}

// render executes v's template in the layout with security headers: no
// framing, no inline script, no third-party anything.
func (cs *console) render(c *fiber.Ctx, code int, v pageView) error {
	name := v.template()
	t := cs.pages[name]
	if t == nil {
		return errors.New("console: no template " + name)
	}
	lv := layoutView{Page: name, Token: cs.sess.haveToken, D: v}
	if s, ok := c.Locals(csrfField).(string); ok {
		lv.CSRF = s
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", lv); err != nil {
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

// pageSize is the length of a console list page.
const pageSize = 50

// The console's "Test data" filter (?test=): send-test's TEST- data is
// listed on the deliveries pages unless excluded, and left out of the
// customers and changes pages unless included, as in the JSON API.
const (
	testInclude = "include"
	testExclude = "exclude"
)

// testForm is the "Test data" filter's value in a customers or changes
// page's link: include, or left out.
func testForm(included bool) string {
	if included {
		return testInclude
	}
	return ""
}

// formValues are a form's values that are set, as a query.
func formValues(form map[string]string) url.Values {
	q := url.Values{}
	for k, v := range form {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// nextPage is the URL of a list page's next page: path with the form's
// values that are set and the cursor next; "" at the end of the list.
func nextPage(path, next string, form map[string]string) string {
	if next == "" {
		return ""
	}
	q := formValues(form)
	q.Set("cursor", next)
	return path + "?" + q.Encode()
}

// formTime reads a date from a form: YYYY-MM-DD (UTC midnight; with
// endOfDay the midnight after, so that "until" includes the day), a
// datetime-local value (UTC), or RFC 3339. "" is the zero time.
func formTime(name, s string, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("invalid %s: want a date such as 2026-11-30", name)
}
