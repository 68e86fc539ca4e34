package app_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// consoleFixture is a local app with one processed and one rejected
// delivery in its store.
type consoleFixture struct {
	local, pub        *fiber.App
	db                *store.DB
	processed, reject uint64
	customerID        string
}

func newConsoleFixture(t *testing.T, cfg app.LocalConfig) consoleFixture {
	t.Helper()
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	fx := consoleFixture{local: app.NewLocal(db, r, cfg), pub: app.NewPublic(r, app.PublicConfig{}), db: db, customerID: "C-42"}
	now := time.Now().Unix()
	body := clientBody("ev-console-1", "client.created", map[string]any{"id": fx.customerID, "name": "Acme <Logistics>"})
	fx.processed = post(t, fx.pub, "POST", customersPath, body, intake.Sign(testSecret, now, body)).LogID
	body = clientBody("ev-console-2", "client.updated", map[string]any{"id": fx.customerID, "name": "Wrong"})
	post(t, fx.pub, "POST", customersPath, body, intake.Sign("unknown-secret-0123456789", now, body))
	fx.reject = rejectedID(t, db)
	return fx
}

// rejectedID returns the newest rejected log entry's id (a rejected
// answer carries none).
func rejectedID(t *testing.T, db *store.DB) uint64 {
	t.Helper()
	evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Status: store.StatusRejected, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("no rejected entry: %v", err)
	}
	return evs[0].ID
}

// page sends one console request (formRequest, Host 127.0.0.1:8787 unless
// headers name another) and returns the response and its body.
func page(t *testing.T, f *fiber.App, method, target string, form url.Values, headers ...string) (*http.Response, string) {
	t.Helper()
	resp, err := f.Test(formRequest(t, method, target, form, append([]string{"Host", "127.0.0.1:8787"}, headers...)...), -1)
	if err != nil {
		t.Fatal(err)
	}
	return bodyOf(resp)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// session opens /webhooks and returns its session cookie and CSRF token.
func session(t *testing.T, f *fiber.App, cookie string) (string, string) {
	t.Helper()
	resp, body := page(t, f, "GET", "/webhooks", nil, "Cookie", cookie)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /webhooks = %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "robaws_edge_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF field on /webhooks")
	}
	return cookie, m[1]
}

// TestConsolePages checks every page answers 200 HTML with its content,
// and that no secret reaches a page.
func TestConsolePages(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	tests := []struct {
		path, want string
	}{
		{"/", "problem"},
		{"/deliveries", "/customers/C-42"},
		{"/deliveries?status=rejected&since=2020-01-01&until=2999-12-31&event=&client_id=", "signature mismatch"},
		{"/deliveries/" + itoa(fx.processed), "<button type=\"submit\">Replay</button>"},
		{"/deliveries/" + itoa(fx.reject), "&#34;Wrong&#34;"},
		{"/deliveries/" + itoa(fx.reject), "s before it arrived; 1 v1 element(s)"},
		{"/deliveries/" + itoa(fx.reject), `<span class="st st-rejected">rejected</span> <span class="sub">by delivery</span>`},
		{"/customers", "Acme &lt;Logistics&gt;"},
		{"/customers?q=acme&role=&pricing_code=", "C-42"},
		{"/customers/" + fx.customerID, "timeline"},
		{"/changes", "C-42"},
		{"/changes?field=role&since=2020-01-01", "No changes of role"},
		{"/webhooks", `name="secret"`},
		{"/sync", "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := page(t, fx.local, "GET", tt.path, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("got %d %q, want 200 text/html; charset=utf-8", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(body, tt.want) {
				t.Fatalf("page lacks %q", tt.want)
			}
			for _, secret := range []string{testSecret, "old-secret", "articles-secret", "unknown-secret-0123456789"} {
				if strings.Contains(body, secret) {
					t.Fatalf("page shows the secret %q", secret)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Fatalf("CSP = %q", csp)
			}
		})
	}
	for path, ct := range map[string]string{"/static/console.css": "text/css; charset=utf-8", "/static/console.js": "text/javascript; charset=utf-8", "/static/favicon.svg": "image/svg+xml"} {
		if resp, _ := page(t, fx.local, "GET", path, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s = %d %s, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), ct)
		}
	}
}

// TestConsoleNotFound: unknown ids are 404 pages, bad filters 400 pages.
func TestConsoleNotFound(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	for path, code := range map[string]int{
		"/deliveries/999999": 404, "/deliveries/abc": 404, "/customers/no-such": 404, "/static/nope.css": 404,
		"/deliveries?status=done": 400, "/deliveries?since=yesterday": 400, "/customers?pricing_code=Z": 400,
		"/changes?field=colour": 400, "/deliveries?cursor=bogus": 400,
	} {
		resp, body := page(t, fx.local, "GET", path, nil)
		if resp.StatusCode != code || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, "</main>") {
			t.Errorf("GET %s = %d %s, want a %d page", path, resp.StatusCode, resp.Header.Get("Content-Type"), code)
		}
	}
}

// TestConsoleCSRF: a form post needs the session's CSRF token and the
// session cookie; a cross-origin post is refused even with both; a
// same-origin one (Origin = Host) passes.
func TestConsoleCSRF(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	cookie, csrf := session(t, fx.local, "")
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "endpoint": {"nosecret"}, "secret": {"0123456789abcdef-console"}}
	}
	tests := []struct {
		name    string
		form    url.Values
		headers []string
		want    int
	}{
		{"no token", url.Values{"endpoint": {"nosecret"}, "secret": {"0123456789abcdef-console"}}, []string{"Cookie", cookie}, 403},
		{"wrong token", form(strings.Repeat("0", len(csrf))), []string{"Cookie", cookie}, 403},
		{"no cookie", form(csrf), nil, 403},
		{"cross origin", form(csrf), []string{"Cookie", cookie, "Origin", "http://evil.example"}, 403},
		{"cross site", form(csrf), []string{"Cookie", cookie, "Sec-Fetch-Site", "cross-site"}, 403},
		{"rebound host", form(csrf), []string{"Cookie", cookie, "Host", "evil.example:8787", "Origin", "http://evil.example:8787"}, 403},
		{"forwarded host", form(csrf), []string{"Cookie", cookie, "Host", "evil.example:8787", "X-Forwarded-Host", "127.0.0.1:8787"}, 403},
		{"same origin", form(csrf), []string{"Cookie", cookie, "Origin", "http://127.0.0.1:8787", "Sec-Fetch-Site", "same-origin"}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := page(t, fx.local, "POST", "/webhooks", tt.form, tt.headers...)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	for _, path := range []string{"/deliveries/" + itoa(fx.reject) + "/replay", "/deliveries/replay", "/webhooks/register", "/webhooks/1/deactivate", "/sync", "/logout"} {
		if resp, _ := page(t, fx.local, "POST", path, url.Values{"status": {"failed"}}, "Cookie", cookie); resp.StatusCode != 403 {
			t.Errorf("POST %s without CSRF = %d, want 403", path, resp.StatusCode)
		}
	}
	// The API keeps refusing any Origin, same-origin included.
	if resp, _ := page(t, fx.local, "GET", "/api/health", nil, "Origin", "http://127.0.0.1:8787"); resp.StatusCode != 403 {
		t.Fatalf("API with Origin = %d, want 403", resp.StatusCode)
	}
	if resp, _ := page(t, fx.local, "GET", "/", nil, "Host", "evil.example"); resp.StatusCode != 403 {
		t.Fatalf("page for a rebound host = %d, want 403", resp.StatusCode)
	}
}

// TestConsoleCSRFBoundToSession: a form's token is good in its own session
// only, and a restart (another local app, another key) voids it.
func TestConsoleCSRFBoundToSession(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	local, restarted := app.NewLocal(db, r, app.LocalConfig{}), app.NewLocal(db, r, app.LocalConfig{})
	cookie, csrf := session(t, local, "")
	other, _ := session(t, local, "")
	form := url.Values{"csrf": {csrf}, "endpoint": {"nosecret"}, "secret": {"0123456789abcdef-console"}}
	if cookie == other {
		t.Fatalf("two first visits got one session: %s", cookie)
	}
	if resp, _ := page(t, local, "POST", "/webhooks", form, "Cookie", other); resp.StatusCode != 403 {
		t.Fatalf("another session's token = %d, want 403", resp.StatusCode)
	}
	if resp, _ := page(t, restarted, "POST", "/webhooks", form, "Cookie", cookie); resp.StatusCode != 403 {
		t.Fatalf("a token from before the restart = %d, want 403", resp.StatusCode)
	}
	if resp, _ := page(t, local, "POST", "/webhooks", form, "Cookie", cookie); resp.StatusCode != 303 {
		t.Fatalf("the session's own token = %d, want 303", resp.StatusCode)
	}
}

// TestConsoleNotPublic: the receiver (also what the tunnel serves) has no
// page, asset or login.
func TestConsoleNotPublic(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	for _, path := range []string{"/", "/login", "/deliveries", "/deliveries/" + itoa(fx.processed), "/customers", "/customers/C-42", "/changes", "/webhooks", "/sync", "/static/console.css", "/deliveries/stream"} {
		resp, body := page(t, fx.pub, "GET", path, nil)
		if resp.StatusCode != 404 || strings.Contains(body, "<html") {
			t.Errorf("public GET %s = %d, want 404 without a page", path, resp.StatusCode)
		}
	}
	if resp, _ := page(t, fx.pub, "POST", "/login", url.Values{"token": {"x"}}); resp.StatusCode != 404 {
		t.Errorf("public POST /login = %d, want 404", resp.StatusCode)
	}
}

// TestConsoleLogin: with admin.token, nothing but the login page before
// logging in; the session cookie is HttpOnly and SameSite=Strict; it opens
// the pages and never the API, which keeps wanting the bearer header.
func TestConsoleLogin(t *testing.T) {
	const token = "office-admin-token"
	fx := newConsoleFixture(t, app.LocalConfig{Token: token, Hosts: []string{"edge.office.lan"}})
	for _, path := range []string{"/", "/deliveries", "/deliveries/" + itoa(fx.processed), "/customers/C-42", "/webhooks", "/sync", "/changes", "/deliveries/stream"} {
		resp, body := page(t, fx.local, "GET", path, nil, "Authorization", "Bearer "+token)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" || strings.Contains(body, "C-42") {
			t.Errorf("GET %s before login = %d %q, want 303 to /login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := page(t, fx.local, "POST", "/webhooks", url.Values{"secret": {"x"}}); resp.StatusCode != 401 {
		t.Errorf("POST before login = %d, want 401", resp.StatusCode)
	}
	resp, body := page(t, fx.local, "GET", "/login", nil, "Host", "edge.office.lan:8787")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("GET /login = %d", resp.StatusCode)
	}
	// The login form carries a CSRF token bound to its login cookie.
	loginCookie := strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0]
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if !strings.HasPrefix(loginCookie, "robaws_edge_login=") || m == nil {
		t.Fatalf("login page: cookie %q, csrf field found %v", loginCookie, m != nil)
	}
	loginForm := func(tok string) url.Values { return url.Values{"token": {tok}, "csrf": {m[1]}} }
	if resp, _ := page(t, fx.local, "POST", "/login", url.Values{"token": {token}}, "Cookie", loginCookie); resp.StatusCode != 403 {
		t.Fatalf("login without its CSRF token = %d, want 403", resp.StatusCode)
	}
	if resp, _ := page(t, fx.local, "POST", "/login", loginForm(token)); resp.StatusCode != 403 {
		t.Fatalf("login without its cookie = %d, want 403", resp.StatusCode)
	}
	resp, body = page(t, fx.local, "POST", "/login", loginForm("guess"), "Cookie", loginCookie)
	if resp.StatusCode != 401 || strings.Contains(resp.Header.Get("Set-Cookie"), "robaws_edge_session") {
		t.Fatalf("wrong token = %d with cookies %q, want 401 and no session", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	// A login form is good for one attempt: the 401 page brings a new one.
	if resp, _ := page(t, fx.local, "POST", "/login", loginForm(token), "Cookie", loginCookie); resp.StatusCode != 403 {
		t.Fatalf("login with a spent form = %d, want 403", resp.StatusCode)
	}
	loginCookie = strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0]
	if m = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body); !strings.HasPrefix(loginCookie, "robaws_edge_login=") || m == nil {
		t.Fatalf("401 page: cookie %q, csrf field found %v", loginCookie, m != nil)
	}
	if resp, _ := page(t, fx.local, "POST", "/login", loginForm(token), "Origin", "http://evil.example", "Cookie", loginCookie); resp.StatusCode != 403 {
		t.Fatalf("cross-origin login = %d, want 403", resp.StatusCode)
	}
	resp, _ = page(t, fx.local, "POST", "/login", loginForm(token), "Origin", "http://127.0.0.1:8787", "Cookie", loginCookie)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("login = %d %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	set := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "path=/"} {
		if !strings.Contains(set, attr) {
			t.Fatalf("Set-Cookie %q lacks %s", set, attr)
		}
	}
	cookie := strings.SplitN(set, ";", 2)[0]
	for _, path := range []string{"/", "/deliveries", "/customers/C-42", "/webhooks"} {
		if resp, _ := page(t, fx.local, "GET", path, nil, "Cookie", cookie); resp.StatusCode != 200 {
			t.Errorf("GET %s after login = %d, want 200", path, resp.StatusCode)
		}
	}
	if resp, _ := page(t, fx.local, "GET", "/api/health", nil, "Cookie", cookie); resp.StatusCode != 401 {
		t.Fatalf("API with the session cookie = %d, want 401 (bearer only)", resp.StatusCode)
	}
	if resp, _ := page(t, fx.local, "GET", "/api/health", nil, "Authorization", "Bearer "+token); resp.StatusCode != 200 {
		t.Fatalf("API with the bearer = %d, want 200", resp.StatusCode)
	}
	_, csrf := session(t, fx.local, cookie)
	if resp, _ := page(t, fx.local, "POST", "/logout", url.Values{"csrf": {csrf}}, "Cookie", cookie); resp.StatusCode != 303 || !strings.Contains(resp.Header.Get("Set-Cookie"), "robaws_edge_session=;") {
		t.Fatalf("logout = %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if resp, _ := page(t, fx.local, "GET", "/", nil, "Cookie", "robaws_edge_session=forged.9999999999.00"); resp.StatusCode != 303 {
		t.Fatalf("forged session = %d, want 303 to /login", resp.StatusCode)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestConsoleBidiEscaped: bidi controls in stored text (a name, a client
// id, a payload, a filter echoed in a form) are shown as visible \uXXXX
// markers on every page, never sent raw; a page without them is unchanged.
func TestConsoleBidiEscaped(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := app.NewPublic(r, app.PublicConfig{})
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	const id = "C-\u202egpj.exe"
	now := time.Now().Unix()
	body := clientBody("ev-bidi-1", "client.created", map[string]any{"id": id, "name": "Acme \u2067\u200fLogistics\u2069 \u061c\u202a\u202b\u202c\u202d\u2066\u2068\u200e"})
	processed := post(t, pub, "POST", customersPath, body, intake.Sign(testSecret, now, body)).LogID
	body = clientBody("ev-bidi-2", "client.updated", map[string]any{"id": id, "name": "exe.\u202eOverride"})
	post(t, pub, "POST", customersPath, body, intake.Sign("unknown-secret-0123456789", now, body))
	rejected := rejectedID(t, db)
	c := clientFrom("127.0.0.1")
	for _, p := range []string{"/", "/deliveries", "/deliveries/" + itoa(processed), "/deliveries/" + itoa(rejected),
		"/customers", "/customers/" + url.PathEscape(id), "/changes", "/deliveries?client_id=" + url.QueryEscape(id),
		"/customers?q=" + url.QueryEscape("Acme \u2067")} {
		resp, page := wire(t, c, "GET", base+p, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d", p, resp.StatusCode)
		}
		if i := strings.IndexAny(page, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"); i >= 0 {
			t.Errorf("GET %s shows a raw bidi control: %q", p, page[max(0, i-40):min(len(page), i+40)])
		}
		if !strings.Contains(page, `C-\u202Egpj.exe`) && !strings.Contains(page, `\u2067\u200FLogistics\u2069`) {
			t.Errorf("GET %s shows neither marker", p)
		}
	}
	_, page := wire(t, c, "GET", base+"/customers/"+url.PathEscape(id), nil)
	for _, want := range []string{`\u2067\u200FLogistics\u2069 \u061C\u202A\u202B\u202C\u202D\u2066\u2068\u200E`, `C-\u202Egpj.exe`} {
		if !strings.Contains(page, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
}
