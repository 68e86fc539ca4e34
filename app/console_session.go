package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// This file holds the console's sessions, login and logout. A session
// cookie is "<nonce>.<expiry>.<HMAC>" under the console's per-process key;
// with admin.token the nonce must also be in the live sessions, so logout
// ends a session on the server, not just in the browser. A login form's
// nonce is good for one POST /login, and failed logins spend the client
// address's budget of the authThrottle shared with the API's bearer check.

// Bounds of the console's server-side state. Only a token holder creates
// sessions; anyone who reaches the page can fetch login forms, so the
// oldest form goes first when they are all taken.
const (
	maxSessions   = 1024
	maxLoginForms = 1024
	loginFormTTL  = time.Hour
)

// nonceSet is a bounded set of random nonces, each with an expiry.
type nonceSet struct {
	max int
	mu  sync.Mutex
	exp map[string]time.Time
}

func newNonceSet(max int) *nonceSet { return &nonceSet{max: max, exp: map[string]time.Time{}} }

// add puts nonce in the set until exp; when the set is full, expired
// nonces go, then the one that expires first.
func (s *nonceSet) add(nonce string, exp, now time.Time) {
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
	s.exp[nonce] = exp
}

// has reports whether nonce is in the set and not expired.
func (s *nonceSet) has(nonce string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exp[nonce]
	return ok && now.Before(e)
}

// take removes nonce and reports whether it was there and not expired.
func (s *nonceSet) take(nonce string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exp[nonce]
	delete(s.exp, nonce)
	return ok && now.Before(e)
}

func (s *nonceSet) remove(nonce string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exp, nonce)
}

// randomNonce returns 16 random bytes in hex.
func randomNonce() string {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
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

// newSession issues a session cookie and returns its nonce; with a token
// the nonce joins the live sessions.
func (cs *console) newSession(c *fiber.Ctx) string {
	nonce := randomNonce()
	now := time.Now()
	exp := now.Add(sessionTTL)
	if cs.haveToken {
		cs.sessions.add(nonce, exp, now)
	}
	value := nonce + "." + strconv.FormatInt(exp.Unix(), 10)
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: value + "." + cs.mac("session:"+value), Path: "/",
		Expires: exp, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
	})
	return nonce
}

// verifySession checks a session cookie's signature and expiry and
// returns its nonce.
func (cs *console) verifySession(cookie string, now time.Time) (string, bool) {
	i := strings.LastIndexByte(cookie, '.')
	if i < 0 {
		return "", false
	}
	value, sig := cookie[:i], cookie[i+1:]
	if !hmac.Equal([]byte(sig), []byte(cs.mac("session:"+value))) {
		return "", false
	}
	nonce, expText, _ := strings.Cut(value, ".")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	return nonce, true
}

// csrfToken is the hidden form field of the session with nonce.
func (cs *console) csrfToken(nonce string) string { return cs.mac("csrf:" + nonce) }

func (cs *console) mac(s string) string {
	m := hmac.New(sha256.New, cs.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// checkToken compares a login attempt with admin.token in constant time.
func (cs *console) checkToken(token string) bool {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return cs.haveToken && subtle.ConstantTimeCompare(sum[:], cs.tokenSum[:]) == 1
}

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
