package app

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// ConnLimiter caps the public receiver's open connections in total and per
// client IP, across every listener it wraps (receiver.listen and each tunnel
// session share one limiter, so the total is the daemon's).
//
// A connection over a cap is accepted and closed at once, before a byte is
// read or written: a flood costs a file descriptor for an instant, nothing
// more, and a real sender sees a closed connection and retries (Robaws retries
// any delivery that was not answered 2xx).
//
// The client IP is the connection's RemoteAddr. Tunnel connections report
// the real client's address as ngrok saw it (see package tunnel), so the
// per-IP cap applies to internet clients, not to the tunnel as a whole. A
// connection whose RemoteAddr has no IP (none seen in practice) counts only
// towards the total. Behind a local reverse proxy on receiver.listen every
// connection comes from the proxy's address: raise max_connections_per_ip.
type ConnLimiter struct {
	max, perIP int
	logger     *slog.Logger

	mu      sync.Mutex
	total   int
	byIP    map[string]int
	refused int       // since the last log line
	logged  time.Time // last "connections refused" line
}

// NewConnLimiter returns a limiter allowing max connections in total and
// perIP from one address. A value <= 0 means no cap of that kind.
func NewConnLimiter(max, perIP int, logger *slog.Logger) *ConnLimiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ConnLimiter{max: max, perIP: perIP, logger: logger, byIP: map[string]int{}}
}

// Listener wraps ln so that its accepted connections count against l. A nil
// limiter returns ln unchanged.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitListener{Listener: ln, l: l}
}

// Open reports the connections currently counted in total and from ip.
func (l *ConnLimiter) Open(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byIP[ip]
}

func (l *ConnLimiter) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.total >= l.max) || (ip != "" && l.perIP > 0 && l.byIP[ip] >= l.perIP) {
		l.refused++
		if now := time.Now(); now.Sub(l.logged) >= time.Minute {
			l.logger.Warn("connections refused: too many open", "refused", l.refused, "open", l.total,
				"max_connections", l.max, "max_connections_per_ip", l.perIP, "last_ip", ip)
			l.logged, l.refused = now, 0
		}
		return false
	}
	l.total++
	if ip != "" {
		l.byIP[ip]++
	}
	return true
}

func (l *ConnLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if ip == "" {
		return
	}
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
}

type limitListener struct {
	net.Listener
	l *ConnLimiter
}

// Accept returns the next connection within the caps; connections over a
// cap are closed here and never returned.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if ll.l.acquire(ip) {
			return &limitConn{Conn: c, l: ll.l, ip: ip}, nil
		}
		c.Close()
	}
}

// limitConn gives its place back exactly once, on the first Close.
type limitConn struct {
	net.Conn
	l    *ConnLimiter
	ip   string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// remoteIP is addr's IP as text, or "" when it has none.
func remoteIP(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.TCPAddr:
		if a.IP != nil {
			return a.IP.String()
		}
		return ""
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}
