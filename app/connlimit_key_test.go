package app

import (
	"net"
	"testing"
)

// TestConnCapIPv6PerPrefix: IPv6 clients count per /64 against
// receiver.max_connections_per_ip, as the token throttle counts them (one
// host can use every address of its /64); IPv4 per address.
func TestConnCapIPv6PerPrefix(t *testing.T) {
	l := NewConnLimiter(100, 2, nil)
	conn := func(addr string) *limitConn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		c := &limitConn{Conn: a, l: l, ip: remoteIP(&net.TCPAddr{IP: net.ParseIP(addr), Port: 4000})}
		c.state.Store(connServing) // answering a request: never evicted for room
		return c
	}
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if !l.acquire(conn(addr)) {
			t.Fatalf("%s refused under the cap", addr)
		}
	}
	if l.acquire(conn("2001:db8:1:2:abcd::1")) {
		t.Fatal("a third address of the same /64 was let in over max_connections_per_ip 2")
	}
	if !l.acquire(conn("2001:db8:1:3::1")) {
		t.Fatal("another /64 was refused")
	}
	if _, n := l.Open("2001:db8:1:2::77"); n != 2 {
		t.Fatalf("Open for the /64 = %d, want 2", n)
	}
	for _, addr := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"} {
		if !l.acquire(conn(addr)) {
			t.Fatalf("%s refused under the cap", addr)
		}
	}
	if _, n := l.Open("192.0.2.1"); n != 2 {
		t.Fatalf("Open(192.0.2.1) = %d, want 2", n)
	}
	if got := remoteIP(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7")}); got != "192.0.2.7" {
		t.Fatalf("an IPv4-mapped address counts as %q, want 192.0.2.7", got)
	}
}
