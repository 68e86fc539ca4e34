package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// The admin token's guards on a real listener with a real bbolt file: the
// throttle of failed attempts per client address, the rebinding guard with
// a token set, the single-use login form, logout on the server, and the
// CSRF token never taken from the query string.

const guardToken = "office-admin-token-0123456789"

// clientFrom returns an HTTP client whose connections leave from the
// loopback address ip (127.0.0.2 is a client address of its own on Linux),
// following no redirect.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// wire sends one request (formRequest) over c and returns the response
// and its body.
func wire(t *testing.T, c *http.Client, method, target string, form url.Values, headers ...string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(formRequest(t, method, target, form, headers...))
	if err != nil {
		t.Fatal(err)
	}
	return bodyOf(resp)
}

// formRequest builds one request; headers are name, value pairs ("Host"
// sets the Host header). A form goes URL-encoded in the body.
func formRequest(t *testing.T, method, target string, form url.Values, headers ...string) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// bodyOf reads and closes resp's body.
func bodyOf(resp *http.Response) (*http.Response, string) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var loginCSRFRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginForm fetches GET /login and returns its cookie and CSRF field.
func loginForm(t *testing.T, c *http.Client, base string) (cookie, csrf string) {
	t.Helper()
	resp, body := wire(t, c, "GET", base+"/login", nil)
	return formOf(t, resp, body)
}

// formOf reads the login cookie and CSRF field of a login page.
func formOf(t *testing.T, resp *http.Response, body string) (cookie, csrf string) {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "robaws_edge_login" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	m := loginCSRFRe.FindStringSubmatch(body)
	if cookie == "" || m == nil {
		t.Fatalf("login page %d: cookie %q, csrf field found %v", resp.StatusCode, cookie, m != nil)
	}
	return cookie, m[1]
}

// sessionOf returns the session cookie a response sets, "" when none.
func sessionOf(resp *http.Response) string {
	for _, ck := range resp.Cookies() {
		if ck.Name == "robaws_edge_session" && ck.Value != "" {
			return ck.Name + "=" + ck.Value
		}
	}
	return ""
}

// serveGuarded serves a local app with admin.token guardToken over a new
// store on a real listener; it returns the app's base URL and the store.
func serveGuarded(t *testing.T) (string, *store.DB) {
	t.Helper()
	db := MustOpenDB(t, "")
	return serve(t, app.NewLocal(db, MustReceiver(t, db, time.Time{}, nil), app.LocalConfig{Token: guardToken})), db
}

// TestTokenThrottle sends 4,000 wrong bearer tokens from 127.0.0.1: they
// are refused in bulk (429) after the first few, the right token from that
// address is refused the same way, at the API and at the console's login,
// and from 127.0.0.2 the right token still works.
func TestTokenThrottle(t *testing.T) {
	base, _ := serveGuarded(t)
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	const guesses, workers = 4000, 8
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < guesses; i += workers {
				req, _ := http.NewRequest("GET", base+"/api/health", nil)
				req.Header.Set("Authorization", "Bearer guess-"+strconv.Itoa(i)+"-0123456789")
				resp, err := one.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// 10 at once, then one every 6 s: what the elapsed time allowed.
	looked := 10 + int(elapsed/(6*time.Second)) + 1
	t.Logf("%d wrong tokens in %v: %v", guesses, elapsed.Round(time.Millisecond), codes)
	if codes[401]+codes[429] != guesses || codes[401] > looked {
		t.Fatalf("answers %v in %v: want every one 401 or 429, at most %d looked at (401)", codes, elapsed, looked)
	}

	// The throttled address learns nothing from the right token.
	resp, body := wire(t, one, "GET", base+"/api/health", nil, "Authorization", "Bearer "+guardToken)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many failed token attempts") {
		t.Fatalf("right token from the throttled address = %d %q (Retry-After %q), want 429", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, _ := wire(t, one, "GET", base+"/api/health", nil); resp.StatusCode != 429 {
		t.Fatalf("no token from the throttled address = %d, want 429", resp.StatusCode)
	}
	cookie, csrf := loginForm(t, one, base)
	resp, body = wire(t, one, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, "Cookie", cookie)
	if resp.StatusCode != 429 || sessionOf(resp) != "" || !strings.Contains(body, `name="token"`) {
		t.Fatalf("console login with the right token from the throttled address = %d (session %q), want 429 with the form", resp.StatusCode, sessionOf(resp))
	}

	// Another address has its own budget.
	if resp, body := wire(t, two, "GET", base+"/api/health", nil, "Authorization", "Bearer "+guardToken); resp.StatusCode != 200 {
		t.Fatalf("right token from 127.0.0.2 = %d %s, want 200", resp.StatusCode, body)
	}
	cookie, csrf = loginForm(t, two, base)
	if resp, _ := wire(t, two, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, "Cookie", cookie); resp.StatusCode != 303 || sessionOf(resp) == "" {
		t.Fatalf("console login from 127.0.0.2 = %d, want 303 with a session", resp.StatusCode)
	}
}

// TestLoginThrottle guesses at the console's login form from 127.0.0.1,
// each time with a fresh form as a script would: after the first few the
// guesses are refused (429) unread, and so is the right token.
func TestLoginThrottle(t *testing.T) {
	base, _ := serveGuarded(t)
	one := clientFrom("127.0.0.1")
	codes := map[int]int{}
	start := time.Now()
	for i := range 40 {
		cookie, csrf := loginForm(t, one, base)
		resp, _ := wire(t, one, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {"guess-" + strconv.Itoa(i) + "-0123456789"}}, "Cookie", cookie)
		codes[resp.StatusCode]++
	}
	looked := 10 + int(time.Since(start)/(6*time.Second)) + 1
	if codes[401]+codes[429] != 40 || codes[401] > looked {
		t.Fatalf("answers %v: want 401 or 429, at most %d looked at", codes, looked)
	}
	cookie, csrf := loginForm(t, one, base)
	if resp, _ := wire(t, one, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, "Cookie", cookie); resp.StatusCode != 429 || sessionOf(resp) != "" {
		t.Fatalf("right token after the guesses = %d, want 429 without a session", resp.StatusCode)
	}
	// The API shares the address's budget.
	if resp, _ := wire(t, one, "GET", base+"/api/health", nil, "Authorization", "Bearer "+guardToken); resp.StatusCode != 429 {
		t.Fatalf("API from the throttled address = %d, want 429", resp.StatusCode)
	}
}

// TestRebindingWithToken: with admin.token set, a page whose own host name
// resolves to this machine still gets 403, at the API and at every page,
// GET and POST /login included; the same requests with this daemon's
// address as Host pass the guard.
func TestRebindingWithToken(t *testing.T) {
	base, _ := serveGuarded(t)
	c := clientFrom("127.0.0.1")
	port := base[strings.LastIndexByte(base, ':')+1:]
	rebound := "attacker.example:" + port
	cookie, csrf := loginForm(t, c, base)
	tests := []struct {
		method, path string
		form         url.Values
		headers      []string
		want         int // with the daemon's own Host
	}{
		{"GET", "/api/health", nil, []string{"Authorization", "Bearer " + guardToken}, 200},
		{"GET", "/api/backup", nil, []string{"Authorization", "Bearer " + guardToken}, 200},
		{"GET", "/login", nil, nil, 200},
		{"POST", "/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, []string{"Cookie", cookie}, 303},
		{"GET", "/", nil, nil, 303},
		{"GET", "/deliveries", nil, nil, 303},
		{"GET", "/static/console.js", nil, nil, 200},
	}
	for _, tt := range tests {
		resp, body := wire(t, c, tt.method, base+tt.path, tt.form, append([]string{"Host", rebound}, tt.headers...)...)
		if resp.StatusCode != 403 || strings.Contains(body, `name="token"`) || sessionOf(resp) != "" {
			t.Errorf("%s %s for Host %s = %d, want 403", tt.method, tt.path, rebound, resp.StatusCode)
		}
	}
	for _, tt := range tests {
		if resp, _ := wire(t, c, tt.method, base+tt.path, tt.form, tt.headers...); resp.StatusCode != tt.want {
			t.Errorf("%s %s for the daemon's own Host = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// TestLoginSession: a login form is good for one attempt, logout ends the
// session on the server (the old cookie opens nothing), and a CSRF token
// in the query string is not accepted.
func TestLoginSession(t *testing.T) {
	base, db := serveGuarded(t)
	c := clientFrom("127.0.0.1")

	cookie, csrf := loginForm(t, c, base)
	resp, body := wire(t, c, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {"wrong-token-0123456789"}}, "Cookie", cookie)
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token = %d, want 401", resp.StatusCode)
	}
	// The spent form does not work again, not even with the right token.
	for range 3 {
		if resp, _ := wire(t, c, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, "Cookie", cookie); resp.StatusCode != 403 || sessionOf(resp) != "" {
			t.Fatalf("reused login form = %d (session %q), want 403", resp.StatusCode, sessionOf(resp))
		}
	}
	// The 401 page brought a fresh one.
	cookie, csrf = formOf(t, resp, body)
	resp, _ = wire(t, c, "POST", base+"/login", url.Values{"csrf": {csrf}, "token": {guardToken}}, "Cookie", cookie)
	session := sessionOf(resp)
	if resp.StatusCode != 303 || session == "" {
		t.Fatalf("login = %d (session %q), want 303 with a session", resp.StatusCode, session)
	}
	resp, body = wire(t, c, "GET", base+"/webhooks", nil, "Cookie", session)
	m := loginCSRFRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET /webhooks logged in = %d", resp.StatusCode)
	}
	pageCSRF := m[1]

	// The CSRF token only counts in the body or the X-CSRF-Token header.
	form := url.Values{"endpoint": {"nosecret"}, "secret": {"0123456789abcdef-query"}}
	if resp, _ := wire(t, c, "POST", base+"/webhooks?csrf="+pageCSRF, form, "Cookie", session); resp.StatusCode != 403 {
		t.Fatalf("POST /webhooks with ?csrf= = %d, want 403", resp.StatusCode)
	}
	if resp, _ := wire(t, c, "POST", base+"/logout?csrf="+pageCSRF, url.Values{}, "Cookie", session); resp.StatusCode != 403 {
		t.Fatalf("POST /logout with ?csrf= = %d, want 403", resp.StatusCode)
	}
	if list, _ := db.FindSecrets(context.Background()); len(list) != 0 {
		t.Fatalf("a post with ?csrf= stored %d secrets", len(list))
	}
	if resp, _ := wire(t, c, "POST", base+"/webhooks", form, "Cookie", session, "X-CSRF-Token", pageCSRF); resp.StatusCode != 303 {
		t.Fatalf("POST /webhooks with X-CSRF-Token = %d, want 303", resp.StatusCode)
	}

	// A live stream open in another tab.
	req, _ := http.NewRequest("GET", base+"/deliveries/stream", nil)
	req.Header.Set("Cookie", session)
	stream, err := c.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	first := make([]byte, 64)
	if n, err := stream.Body.Read(first); err != nil || !strings.Contains(string(first[:n]), "log stream") {
		t.Fatalf("stream opened with %q, %v", first[:n], err)
	}

	// Logout, then the old cookie: back to the login page.
	if resp, _ := wire(t, c, "POST", base+"/logout", url.Values{"csrf": {pageCSRF}}, "Cookie", session); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The open stream ends at its next entry, without sending it.
	if _, err := db.Ingest(context.Background(), &store.Delivery{Endpoint: "customers", Event: "client.created", EventID: "after-logout",
		Status: store.StatusIgnored, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stream.Body)
	if err != nil || strings.Contains(string(rest), "after-logout") {
		t.Fatalf("stream after logout sent %q (%v), want it ended without the new entry", rest, err)
	}
	for _, p := range []string{"/", "/webhooks", "/deliveries/stream"} {
		if resp, body := wire(t, c, "GET", base+p, nil, "Cookie", session); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" || strings.Contains(body, "nosecret") {
			t.Errorf("GET %s with the logged-out cookie = %d %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := wire(t, c, "POST", base+"/webhooks", form, "Cookie", session, "X-CSRF-Token", pageCSRF); resp.StatusCode != 401 {
		t.Fatalf("POST with the logged-out cookie = %d, want 401", resp.StatusCode)
	}
}

// TestCSRFNotFromQuery: without a token too, a form post's CSRF token in
// the query string does not count.
func TestCSRFNotFromQuery(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	c := clientFrom("127.0.0.1")
	resp, body := wire(t, c, "GET", base+"/webhooks", nil)
	session, m := sessionOf(resp), loginCSRFRe.FindStringSubmatch(body)
	if session == "" || m == nil {
		t.Fatal("no session or CSRF field on /webhooks")
	}
	form := url.Values{"endpoint": {"nosecret"}, "secret": {"0123456789abcdef-query"}}
	if resp, _ := wire(t, c, "POST", base+"/webhooks?csrf="+m[1], form, "Cookie", session); resp.StatusCode != 403 {
		t.Fatalf("?csrf= = %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", m[1])
	if resp, _ := wire(t, c, "POST", base+"/webhooks", form, "Cookie", session); resp.StatusCode != 303 {
		t.Fatalf("csrf in the body = %d, want 303", resp.StatusCode)
	}
}
