package app

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ConnLimiter caps the public receiver's open connections in total and per
// client IP, across every listener it wraps (receiver.listen and each tunnel
// session share one limiter, so the total is the daemon's).
//
// When a new connection would go over a cap, the limiter makes room by
// closing the oldest idle connection that counts against that cap: one
// between two requests of a keep-alive connection, or one that has not sent
// a byte yet; failing those, the one that has been sending its request the
// longest, once past slowRequest (a sender that trickles a byte at a time).
// A request that has been read whole (markServing) is never cut for room.
// Only when no connection can go is the new one refused: accepted and
// closed at once, before a byte is read or written. So idle, bare and
// trickling connections, however many, cannot keep a delivery out; what
// they cost is bounded by the caps, and the receiver's header timeout
// closes them after a few seconds anyway (PublicConfig.HeaderTimeout).
//
// The client IP is the connection's RemoteAddr (IPv6 counted per /64, what
// one host can vary). Tunnel connections report
// the real client's address as ngrok saw it (see package tunnel), so the
// per-IP cap applies to internet clients, not to the tunnel as a whole. A
// connection whose RemoteAddr has no IP (none seen in practice) counts only
// towards the total. Behind a local reverse proxy on receiver.listen every
// connection comes from the proxy's address: raise max_connections_per_ip.
//
// The limiter learns that a connection is idle from the fasthttp server
// serving it: NewPublic installs connState as its Server.ConnState hook.
type ConnLimiter struct {
	max, perIP int
	logger     *slog.Logger

	mu      sync.Mutex
	total   int
	byIP    map[string]int
	conns   map[*limitConn]struct{} // every counted connection
	refused int                     // since the last log line
	evicted int                     // since the last log line
	logged  time.Time               // last log line
}

// NewConnLimiter returns a limiter allowing max connections in total and
// perIP from one address. A value <= 0 means no cap of that kind.
func NewConnLimiter(max, perIP int, logger *slog.Logger) *ConnLimiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ConnLimiter{max: max, perIP: perIP, logger: logger, byIP: map[string]int{}, conns: map[*limitConn]struct{}{}}
}

// Listener wraps ln so that its accepted connections count against l. A nil
// limiter returns ln unchanged.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitListener{Listener: ln, l: l}
}

// Open reports the connections currently counted in total and from ip (an
// IPv6 address: from its /64).
func (l *ConnLimiter) Open(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byIP[capKey(net.ParseIP(ip))]
}

// acquire counts c, closing the oldest idle connection in the way when c
// would go over a cap. It returns false when there is none: c is refused.
func (l *ConnLimiter) acquire(c *limitConn) bool {
	l.mu.Lock()
	overTotal := l.max > 0 && l.total >= l.max
	overIP := c.ip != "" && l.perIP > 0 && l.byIP[c.ip] >= l.perIP
	var victim *limitConn
	if overTotal || overIP {
		// Over the per-IP cap only a connection from the same IP makes
		// room (and frees a place in the total too).
		sameIP := ""
		if overIP {
			sameIP = c.ip
		}
		if victim = l.evictLocked(sameIP); victim == nil {
			l.noteLocked(&l.refused)
			l.mu.Unlock()
			return false
		}
		l.noteLocked(&l.evicted)
	}
	l.total++
	if c.ip != "" {
		l.byIP[c.ip]++
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	if victim != nil {
		// Its place is already given back; closing it makes its server
		// goroutine's read fail, and that goroutine's Close is a no-op here.
		victim.Conn.Close()
	}
	return true
}

// evictLocked picks the connection oldestIdleLocked names (from ip, unless
// ip is ""), marks it evicted and gives its place back. It returns nil when
// there is none.
func (l *ConnLimiter) evictLocked(ip string) *limitConn {
	for {
		victim := l.oldestIdleLocked(ip)
		if victim == nil {
			return nil
		}
		// The connection may have moved on since it was looked at (a
		// request begun, or read whole): then look again.
		s := victim.state.Load()
		slow := s == connActive && victim.readingSince.Load() < time.Now().Add(-slowRequest).UnixNano()
		if (idle(s) || slow) && victim.state.CompareAndSwap(s, connEvicted) {
			l.releaseLocked(victim)
			return victim
		}
	}
}

// oldestIdleLocked returns the connection (from ip, unless ip is "") idle
// the longest; failing that, the one reading a request the longest, if for
// more than slowRequest; nil when there is neither.
func (l *ConnLimiter) oldestIdleLocked(ip string) *limitConn {
	var victim, slow *limitConn
	var since, slowSince int64
	slowBefore := time.Now().Add(-slowRequest).UnixNano()
	for c := range l.conns {
		if ip != "" && c.ip != ip {
			continue
		}
		switch st := c.state.Load(); {
		case idle(st):
			if t := c.idleSince.Load(); victim == nil || t < since {
				victim, since = c, t
			}
		case st == connActive:
			if t := c.readingSince.Load(); t < slowBefore && (slow == nil || t < slowSince) {
				slow, slowSince = c, t
			}
		}
	}
	if victim == nil {
		return slow
	}
	return victim
}

// noteLocked counts a refused or evicted connection in *n and logs the
// counts at most once a minute.
func (l *ConnLimiter) noteLocked(n *int) {
	*n++
	if now := time.Now(); now.Sub(l.logged) >= time.Minute {
		l.logger.Warn("connection caps reached", "idle_closed", l.evicted, "refused", l.refused, "open", l.total,
			"max_connections", l.max, "max_connections_per_ip", l.perIP)
		l.logged, l.refused, l.evicted = now, 0, 0
	}
}

func (l *ConnLimiter) release(c *limitConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(c)
}

// releaseLocked gives c's place back, once.
func (l *ConnLimiter) releaseLocked(c *limitConn) {
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	l.total--
	if c.ip == "" {
		return
	}
	if n := l.byIP[c.ip] - 1; n > 0 {
		l.byIP[c.ip] = n
	} else {
		delete(l.byIP, c.ip)
	}
}

type limitListener struct {
	net.Listener
	l *ConnLimiter
}

// Accept returns the next connection within the caps; connections over a
// cap for which no idle one could make room are closed here and never
// returned.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitConn{Conn: c, l: ll.l, ip: remoteIP(c.RemoteAddr())}
		lc.idleSince.Store(time.Now().UnixNano())
		if ll.l.acquire(lc) {
			return lc, nil
		}
		c.Close()
	}
}

// States of a limitConn. Fresh and idle connections may be closed to make
// room, and an active one that has been reading its request for longer
// than slowRequest; a serving one never is.
const (
	connFresh   int32 = iota // accepted, no byte read yet
	connActive               // a request's bytes are arriving
	connServing              // the request is read and being answered
	connIdle                 // between two requests (fasthttp's StateIdle)
	connEvicted              // closed to make room
)

// slowRequest is how long a request may take to arrive before its
// connection may be closed to make room: Robaws sends a delivery at once
// (it gives up after 2 s), so one still arriving after a second is a
// trickle meant to hold a place.
const slowRequest = time.Second

// idle reports whether a connection in state s may be closed for room.
func idle(s int32) bool { return s == connFresh || s == connIdle }

// limitConn is a counted connection. Its place is given back exactly once,
// on the first Close or when it is evicted.
type limitConn struct {
	net.Conn
	l  *ConnLimiter
	ip string

	state        atomic.Int32
	idleSince    atomic.Int64 // unix nanoseconds: accepted, or last became idle
	readingSince atomic.Int64 // unix nanoseconds: when the request being read began
}

// Read marks the connection active as soon as a request's first bytes
// arrive. Bytes that arrive as it is closed to make room are dropped: that
// request gets no answer, like one sent just as a keep-alive connection
// closes.
func (c *limitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.activate() {
		return 0, net.ErrClosed
	}
	return n, err
}

// activate marks the connection active; false if it was closed to make room.
func (c *limitConn) activate() bool {
	for {
		switch s := c.state.Load(); s {
		case connActive, connServing:
			return true
		case connEvicted:
			return false
		default:
			if c.begin(s) {
				return true
			}
		}
	}
}

// begin moves the connection from state from to active, timing the request
// from now (set first: whoever sees it active sees this request's time).
func (c *limitConn) begin(from int32) bool {
	c.readingSince.Store(time.Now().UnixNano())
	return c.state.CompareAndSwap(from, connActive)
}

// markServing tells the limiter that the request on nc has been read whole:
// from now to its answer, its connection is never closed to make room.
func markServing(nc net.Conn) {
	if c, ok := nc.(*limitConn); ok {
		c.state.CompareAndSwap(connActive, connServing)
	}
}

// The deadline setters ignore the error of a connection closed to make
// room: fasthttp panics when it cannot set a deadline (server.go, after a
// request's headers and before its answer), and a request already buffered
// when the connection was closed may get that far. Its next read or write
// fails anyway.

func (c *limitConn) SetDeadline(t time.Time) error {
	return c.evictedOK(c.Conn.SetDeadline(t))
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	return c.evictedOK(c.Conn.SetReadDeadline(t))
}

func (c *limitConn) SetWriteDeadline(t time.Time) error {
	return c.evictedOK(c.Conn.SetWriteDeadline(t))
}

func (c *limitConn) evictedOK(err error) error {
	if err != nil && errors.Is(err, net.ErrClosed) && c.state.Load() == connEvicted {
		return nil
	}
	return err
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.l.release(c)
	return err
}

// connState is the public app's fasthttp ConnState hook: it tells the
// limiter when a connection it counts is between requests.
func connState(nc net.Conn, st fasthttp.ConnState) {
	c, ok := nc.(*limitConn)
	if !ok {
		return
	}
	switch st {
	case fasthttp.StateIdle:
		c.idleSince.Store(time.Now().UnixNano())
		if !c.state.CompareAndSwap(connServing, connIdle) {
			c.state.CompareAndSwap(connActive, connIdle)
		}
	case fasthttp.StateActive:
		// Fired before a connection's first request is read, so a fresh
		// one stays fresh until it sends a byte (Read). A keep-alive
		// request already buffered (pipelined) was read before the
		// connection went idle: it is active now.
		c.begin(connIdle)
	}
}

// remoteIP is the key addr counts under for the per-IP cap: its IPv4
// address as text, or for IPv6 its /64 ("2001:db8::/64"), which is what one
// host can vary (as the token throttle counts); "" when it has no IP.
func remoteIP(addr net.Addr) string {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case nil:
		return ""
	default:
		if host, _, err := net.SplitHostPort(addr.String()); err == nil {
			ip = net.ParseIP(host)
		}
	}
	return capKey(ip)
}

// capKey is remoteIP for an IP.
func capKey(ip net.IP) string {
	if ip == nil {
		return ""
	}
	k := sourceKey(ip)
	if !k.IsValid() {
		return ""
	}
	if k.Is6() {
		return k.String() + "/64"
	}
	return k.String()
}
