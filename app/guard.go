package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// This file holds what the local API and the console share to keep web
// pages and guessers out: the Host check against DNS rebinding, and the
// per-address throttle of failed token attempts.

// hostGuard accepts the Host headers a browser sends when it was pointed at
// this daemon on purpose: an IP address (a rebinding page's origin is a name
// of its own, never one of our addresses), localhost, this machine's name,
// and the names of admin.hosts. Everything else is a page whose own name
// resolves to this machine (DNS rebinding), refused whatever the token.
type hostGuard struct {
	names map[string]bool
}

// newHostGuard returns a guard that accepts localhost, this machine's name
// (os.Hostname, with and without ".local") and extra.
func newHostGuard(extra []string) hostGuard {
	g := hostGuard{names: map[string]bool{"localhost": true}}
	if h, err := os.Hostname(); err == nil && h != "" {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		g.names[h] = true
		g.names[strings.TrimSuffix(h, ".local")+".local"] = true
	}
	for _, h := range extra {
		g.names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return g
}

// allows reports whether the raw Host header (never X-Forwarded-Host, which
// the page sets at will) names this daemon.
func (g hostGuard) allows(hostHeader string) bool {
	host := hostHeader
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return g.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// Defaults of the failed-token throttle (LocalConfig.AuthBurst, AuthEvery).
const (
	defaultAuthBurst = 10
	defaultAuthEvery = 6 * time.Second
)

// maxThrottleSources bounds the addresses the throttle remembers. Past it,
// addresses that have their whole budget back are forgotten, and a new
// address shares one budget with every other newcomer until room is made.
const maxThrottleSources = 1024

// authThrottle slows down token guessing, per client address: AuthBurst
// failed attempts at once, then one per AuthEvery (a token bucket from
// golang.org/x/time/rate). An address whose budget is spent is refused with
// 429 whatever it sends, the right token included, so the answer never says
// whether a guess was right. A right token spends nothing. A token being
// compared counts against the budget until it is known (inflight), so
// simultaneous guesses cannot all pass a check that spends nothing. The
// address is the TCP peer's (never a forwarded header); IPv6 counts per
// /64, which is what one host can vary.
type authThrottle struct {
	burst  int
	every  time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	sources  map[netip.Addr]*rate.Limiter
	inflight map[netip.Addr]int
	overflow *rate.Limiter
	refused  int       // since the last log line
	logged   time.Time // last "token attempts throttled" line
}

func newAuthThrottle(burst int, every time.Duration, logger *slog.Logger) *authThrottle {
	if burst <= 0 {
		burst = defaultAuthBurst
	}
	if every <= 0 {
		every = defaultAuthEvery
	}
	return &authThrottle{burst: burst, every: every, logger: logger, sources: map[netip.Addr]*rate.Limiter{},
		inflight: map[netip.Addr]int{}, overflow: rate.NewLimiter(rate.Every(every), burst)}
}

// sourceKey is the address a budget belongs to.
func sourceKey(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// limiter returns src's budget; t.mu is held.
func (t *authThrottle) limiter(src netip.Addr, now time.Time) *rate.Limiter {
	if l, ok := t.sources[src]; ok {
		return l
	}
	if len(t.sources) >= maxThrottleSources {
		for k, l := range t.sources {
			if l.TokensAt(now) >= float64(t.burst) {
				delete(t.sources, k)
			}
		}
		if len(t.sources) >= maxThrottleSources {
			return t.overflow
		}
	}
	l := rate.NewLimiter(rate.Every(t.every), t.burst)
	t.sources[src] = l
	return l
}

// wait returns how long ip must wait before its next attempt is looked
// at; 0 when it may try now.
func (t *authThrottle) wait(ip net.IP) time.Duration {
	now := time.Now()
	src := sourceKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitLocked(ip, src, t.limiter(src, now), now)
}

// begin admits one token attempt from ip, or returns how long it must
// wait (answer 429). An admitted attempt holds one unit of the budget while
// the token is compared; end says how it went: a wrong token spends it, a
// right one gives it back.
func (t *authThrottle) begin(ip net.IP) (end func(right bool), wait time.Duration) {
	now := time.Now()
	src := sourceKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.limiter(src, now)
	if wait := t.waitLocked(ip, src, l, now); wait > 0 {
		return nil, wait
	}
	t.inflight[src]++
	return func(right bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.inflight[src]--; t.inflight[src] <= 0 {
			delete(t.inflight, src)
		}
		if !right {
			l.AllowN(time.Now(), 1)
		}
	}, 0
}

// waitLocked is 0 when src's budget l has a unit that no attempt being
// compared holds; else it counts a refusal and returns how long to wait
// (at least a second).
func (t *authThrottle) waitLocked(ip net.IP, src netip.Addr, l *rate.Limiter, now time.Time) time.Duration {
	tokens := l.TokensAt(now) - float64(t.inflight[src])
	if tokens >= 1 {
		return 0
	}
	t.refusedLocked(ip, now)
	return max(time.Duration((1-tokens)*float64(t.every)), time.Second)
}

// refusedLocked counts a refusal and logs at most one line a minute.
func (t *authThrottle) refusedLocked(ip net.IP, now time.Time) {
	t.refused++
	if now.Sub(t.logged) >= time.Minute {
		t.logger.Warn("token attempts throttled", "remote_ip", ip.String(), "refused", t.refused)
		t.logged, t.refused = now, 0
	}
}

// errTooManyAttempts is the 429 of a throttled address.
func errTooManyAttempts(c *fiber.Ctx, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return fiber.NewError(fiber.StatusTooManyRequests, "too many failed token attempts from this address: wait "+strconv.Itoa(secs)+" s, then use admin.token from the config file")
}

// errCrossOrigin is answered to requests a web page made (CSRF) and to
// requests for a host name that is not this daemon's (DNS rebinding).
var errCrossOrigin = fiber.NewError(fiber.StatusForbidden, "cross-origin requests are not allowed")

// sameOriginOnly keeps web pages open in the office PC's browser away from
// the local API. Browsers send Origin (or Sec-Fetch-Site) on every
// cross-origin write; the CLI and scripts send neither. A Host that is not
// this daemon's (hosts) is refused too, token or not, which defeats DNS
// rebinding (a page's own host name resolving to this machine): with a
// token, such a page could otherwise guess it from the admin's browser.
func sameOriginOnly(hosts hostGuard) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Get(fiber.HeaderOrigin) != "" || c.Get("Sec-Fetch-Site") == "cross-site" || c.Get("Sec-Fetch-Site") == "same-site" {
			return errCrossOrigin
		}
		// The raw Host header, never c.Hostname(): Fiber takes that from
		// X-Forwarded-Host, which the rebinding page sets at will.
		if !hosts.allows(string(c.Request().Header.Host())) {
			return errCrossOrigin
		}
		return c.Next()
	}
}

// errBadToken is the 401 of the local API.
var errBadToken = fiber.NewError(fiber.StatusUnauthorized, "missing or invalid token")

// requireToken checks "Authorization: Bearer <token>" on every request. The
// hashes have equal length, so the comparison takes the same time whatever
// the token's length. A throttled address is refused before its token is
// looked at; a request without the header guesses nothing and spends
// nothing of the address's budget.
func requireToken(token string, th *authThrottle) fiber.Handler {
	want := sha256.Sum256([]byte(token))
	return func(c *fiber.Ctx) error {
		ip := c.Context().RemoteIP()
		header := c.Get(fiber.HeaderAuthorization)
		if header == "" {
			if wait := th.wait(ip); wait > 0 {
				return errTooManyAttempts(c, wait)
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="robaws-edge"`)
			return errBadToken
		}
		end, wait := th.begin(ip)
		if wait > 0 {
			return errTooManyAttempts(c, wait)
		}
		scheme, got, ok := strings.Cut(header, " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		right := ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(sum[:], want[:]) == 1
		end(right)
		if !right {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="robaws-edge"`)
			return errBadToken
		}
		return c.Next()
	}
}
