package app

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/net/xsrftoken"
)

// This file holds the console's sessions and CSRF tokens. The tokens are
// golang.org/x/net/xsrftoken's, as golink's are: an HMAC of (session id,
// action, time) under a random per-process key, valid for a day, so a
// restart voids every form. A cookie carries only a random id (128 bits):
//
//   - with admin.token, a session exists only on the server, made by
//     logging in and ended by logging out (at most maxSessions, the one that
//     expires first goes when they are all taken), so a cookie the server
//     does not know opens nothing and a planted one cannot be a login;
//   - without admin.token nothing needs a login: the id, issued on a first
//     page, only anchors the forms' tokens, which nobody can make without
//     the key, so it is kept nowhere.
//
// A login form's id is kept on the server until its one POST /login.

// Cookie and form field names of the console.
const (
	sessionCookie = "robaws_edge_session"
	// loginCookie carries the login form's id, so that POST /login needs
	// a CSRF token too (login CSRF).
	loginCookie = "robaws_edge_login"
	csrfField   = "csrf"
	// streamAlive is the Locals key of a func that tells an open log
	// stream whether its session still holds (logout ends the stream).
	streamAlive = "stream-alive"
)

// The xsrftoken actions: one for every form of a session, one for the
// login form.
const (
	actionConsole = "console"
	actionLogin   = "login"
)

// Lifetimes and bounds of the console's server-side state. sessionTTL is
// xsrftoken's own validity. Only a token holder creates sessions; anyone
// who reaches the page can fetch login forms, so the oldest form goes
// first when they are all taken.
const (
	sessionTTL    = xsrftoken.Timeout
	maxSessions   = 1024
	maxLoginForms = 1024
	loginFormTTL  = time.Hour
)

// sessions issues and checks the console's session and login cookies and
// their CSRF tokens.
type sessions struct {
	// key is xsrftoken's key, random per process.
	key string
	// tokenSum is the SHA-256 of admin.token, compared in constant time;
	// haveToken says admin.token is set.
	tokenSum  [32]byte
	haveToken bool
	// live are the sessions of logins (with admin.token); logins are the
	// login forms handed out.
	live, logins *nonceSet
}

func newSessions(token string) *sessions {
	return &sessions{key: randomID() + randomID(), tokenSum: sha256.Sum256([]byte(token)), haveToken: token != "",
		live: newNonceSet(maxSessions), logins: newNonceSet(maxLoginForms)}
}

// find returns the request's session id: with admin.token one that is
// live, without any well-formed one. ok is false when there is none.
func (s *sessions) find(c *fiber.Ctx, now time.Time) (id string, ok bool) {
	id = c.Cookies(sessionCookie)
	if !isID(id) {
		return "", false
	}
	if s.haveToken && !s.live.has(id, now) {
		return "", false // logged out, expired, or pushed out by newer sessions
	}
	return id, true
}

// start issues a new session's cookie and returns its id; with admin.token
// the session joins the live ones.
func (s *sessions) start(c *fiber.Ctx, now time.Time) string {
	id := randomID()
	exp := now.Add(sessionTTL)
	if s.haveToken {
		s.live.add(id, exp, now)
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: exp,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
	return id
}

// end ends the request's session on the server and clears its cookie.
func (s *sessions) end(c *fiber.Ctx) {
	if id := c.Cookies(sessionCookie); isID(id) {
		s.live.remove(id)
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(1, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
}

// csrf returns the CSRF token of session id's forms.
func (s *sessions) csrf(id string) string { return xsrftoken.Generate(s.key, id, actionConsole) }

// validCSRF reports whether the request carries a CSRF token of session id
// (csrfValue).
func (s *sessions) validCSRF(c *fiber.Ctx, id string) bool {
	return xsrftoken.ValidFor(csrfValue(c), s.key, id, actionConsole, sessionTTL)
}

// newLoginForm issues a login form's cookie, good for one POST /login
// within loginFormTTL, and returns the form's CSRF token.
func (s *sessions) newLoginForm(c *fiber.Ctx, now time.Time) string {
	id := randomID()
	s.logins.add(id, now.Add(loginFormTTL), now)
	c.Cookie(&fiber.Cookie{Name: loginCookie, Value: id, Path: "/login", Expires: now.Add(loginFormTTL),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
	return xsrftoken.Generate(s.key, id, actionLogin)
}

// spendLoginForm checks POST /login's CSRF token against its login cookie
// and spends the form: it is good for one attempt.
func (s *sessions) spendLoginForm(c *fiber.Ctx, now time.Time) bool {
	id := c.Cookies(loginCookie)
	if !isID(id) || !xsrftoken.ValidFor(csrfValue(c), s.key, id, actionLogin, loginFormTTL) {
		return false
	}
	return s.logins.take(id, now)
}

// checkToken compares a login attempt with admin.token in constant time.
func (s *sessions) checkToken(token string) bool {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return s.haveToken && subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

// randomID returns 16 random bytes in hex.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}

// isID reports whether s has randomID's form: a cookie is not trusted
// further than that before it is looked up.
func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// nonceSet is a bounded set of random ids, each with an expiry.
type nonceSet struct {
	max int
	mu  sync.Mutex
	exp map[string]time.Time
}

func newNonceSet(max int) *nonceSet { return &nonceSet{max: max, exp: map[string]time.Time{}} }

// add puts id in the set until exp; when the set is full, expired ids go,
// then the one that expires first.
func (s *nonceSet) add(id string, exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.exp) >= s.max {
		oldest, first := "", time.Time{}
		for k, e := range s.exp {
			if !now.Before(e) {
				delete(s.exp, k)
			} else if oldest == "" || e.Before(first) {
				oldest, first = k, e
			}
		}
		if len(s.exp) >= s.max {
			delete(s.exp, oldest)
		}
	}
	s.exp[id] = exp
}

// has reports whether id is in the set and not expired.
func (s *nonceSet) has(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exp[id]
	return ok && now.Before(e)
}

// take removes id and reports whether it was there and not expired.
func (s *nonceSet) take(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exp[id]
	delete(s.exp, id)
	return ok && now.Before(e)
}

func (s *nonceSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exp, id)
}

// bodyValue is a field of the request's form body (URL-encoded or
// multipart), never of its query string: c.FormValue would read both.
func bodyValue(c *fiber.Ctx, name string) string {
	if v := c.Request().PostArgs().Peek(name); v != nil {
		return string(v)
	}
	if f, err := c.MultipartForm(); err == nil && len(f.Value[name]) > 0 {
		return f.Value[name][0]
	}
	return ""
}

// csrfValue is the CSRF token a POST carries: the X-CSRF-Token header (for
// scripts of the page) or the csrf field of its body.
func csrfValue(c *fiber.Ctx) string {
	if v := c.Get("X-CSRF-Token"); v != "" {
		return v
	}
	return bodyValue(c, csrfField)
}
