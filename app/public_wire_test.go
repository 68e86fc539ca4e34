package app_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// serveLimited serves f on a loopback listener wrapped by lim (nil: none)
// and returns the listener's address.
func serveLimited(tb testing.TB, f *fiber.App, lim *app.ConnLimiter) string {
	tb.Helper()
	return serveOn(tb, f, lim.Listener(listen(tb)))
}

// readWatch is a listener whose connections report when the server, having
// read exactly want bytes from one, asks it for more: the server has taken
// in all that was sent (a request's line, headers and the body's first
// bytes, here) and waits for the rest.
type readWatch struct {
	net.Listener
	want    int64
	waiting atomic.Int64
}

func (l *readWatch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, l: l}, nil
}

// watchedConn counts what the server read; the server reads a connection
// from one goroutine at a time.
type watchedConn struct {
	net.Conn
	l       *readWatch
	read    int64
	counted bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if !c.counted && c.read == c.l.want {
		c.counted = true
		c.l.waiting.Add(1)
	}
	n, err := c.Conn.Read(p)
	c.read += int64(n)
	return n, err
}

// signedPost sends one signed delivery on a new connection and returns the
// answer.
func signedPost(tb testing.TB, addr, eventID string) answer {
	tb.Helper()
	body := delivery(eventID, "client.updated", "C-"+eventID, "Name", "")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return postSigned(tb, client, "http://"+addr, body)
}

// vmRSS is the process's resident set from /proc/self/status, or 0.
func vmRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// goMemInUse is the Go heap and stacks in use: what the receiver's
// buffers and goroutines cost, without the race detector's shadow memory
// that makes RSS noisy under -race.
func goMemInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// TestSlowLargeBodiesBoundedMemory: 300 connections announce a 1 MiB body
// and send one byte. The receiver must not allocate anything like the
// announced size (it used to: 300 MiB here), and a real delivery on a new
// connection is still answered.
func TestSlowLargeBodiesBoundedMemory(t *testing.T) {
	const conns = 300
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(0, 0, nil) // no caps; used to count accepted connections
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nRobaws-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n{", customersPath, 1<<20)
	watch := &readWatch{Listener: listen(t), want: int64(len(head))}
	addr := serveOn(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), lim.Listener(watch))
	if a := signedPost(t, addr, "warm-up"); a.Code != 200 {
		t.Fatalf("warm-up: got %+v, want 200", a)
	}

	runtime.GC()
	memBefore, rssBefore := goMemInUse(), vmRSS()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		open = append(open, c)
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// Measure once the server has read every request's head and waits for
	// the rest of its body: past any buffer it would size from the
	// announced length.
	waitFor(t, 10*time.Second, "the receiver did not read every slow connection's head", func() bool {
		n, _ := lim.Open("")
		return n >= conns && watch.waiting.Load() >= conns
	})
	memAfter, rssAfter := goMemInUse(), vmRSS()
	grew := memAfter - memBefore
	t.Logf("%d slow 1 MiB bodies: Go heap+stacks in use grew %.1f MiB, VmRSS grew %.1f MiB",
		conns, float64(grew)/(1<<20), float64(rssAfter-rssBefore)/(1<<20))
	if grew >= 64<<20 {
		t.Fatalf("Go heap+stacks in use grew %d bytes with %d slow connections, want < 64 MiB", grew, conns)
	}
	if a := signedPost(t, addr, "while-slow"); a.Code != 200 || a.Status != store.StatusProcessed {
		t.Fatalf("delivery beside the slow connections: got %+v, want 200 processed", a)
	}
}

// TestBodyTooLargeReachesSender: a Go net/http sender of 1 MiB+16 bytes
// (and of 3 MiB), still writing when the receiver has seen enough, reads
// the 413 every time, with a known length and chunked. Before bodies were
// drained, fasthttp's 413 reached such a sender in a few of 10 tries.
func TestBodyTooLargeReachesSender(t *testing.T) {
	db := MustOpenDB(t, "")
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), nil)
	for _, tt := range []struct {
		size    int
		chunked bool
	}{{1<<20 + 16, false}, {1<<20 + 16, true}, {3 << 20, false}, {3 << 20, true}} {
		body := bytes.Repeat([]byte("x"), tt.size)
		chunked := tt.chunked
		t.Run(fmt.Sprintf("size=%d/chunked=%v", tt.size, chunked), func(t *testing.T) {
			for i := range 10 {
				var r io.Reader = bytes.NewReader(body)
				if chunked {
					r = io.MultiReader(r) // unknown length: Transfer-Encoding: chunked
				}
				req, _ := http.NewRequest("POST", "http://"+addr+customersPath, r)
				req.Header.Set("Robaws-Signature", intake.Sign(testSecret, time.Now().Unix(), body))
				// A fresh connection for each try.
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("try %d of 10: %v, want a 413 answer", i+1, err)
				}
				a := decodeAnswer(t, resp)
				if a.Code != 413 || a.Error != "request body too large" {
					t.Fatalf("try %d of 10: got %+v, want 413 request body too large", i+1, a)
				}
			}
		})
	}
	if evs, _, _ := db.FindLogEntries(context.Background(), store.LogFilter{}); len(evs) != 0 {
		t.Fatalf("stored %d entries for too-large bodies, want 0", len(evs))
	}
}

// TestStreamedBodyKeepAlive: a chunked delivery is verified over its
// de-chunked bytes, a body exactly at the limit is accepted, and a 405 with
// a body leaves the keep-alive connection usable for the next request.
func TestStreamedBodyKeepAlive(t *testing.T) {
	db := MustOpenDB(t, "")
	const max = 4096
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{MaxBodyBytes: max}), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip := func(req *http.Request) answer {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := req.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		return decodeAnswer(t, resp)
	}
	newReq := func(method string, r io.Reader, sig string) *http.Request {
		req, _ := http.NewRequest(method, "http://"+addr+customersPath, r)
		req.Header.Set("Robaws-Signature", sig)
		return req
	}

	put := bytes.Repeat([]byte("p"), 3000)
	if a := roundTrip(newReq("PUT", bytes.NewReader(put), "")); a.Code != 405 {
		t.Fatalf("PUT: got %+v, want 405", a)
	}
	body := delivery("chunked-1", "client.updated", "C-1", "Name", "")
	req := newReq("POST", io.MultiReader(bytes.NewReader(body)), intake.Sign(testSecret, time.Now().Unix(), body))
	if a := roundTrip(req); a.Code != 200 || a.Status != store.StatusProcessed {
		t.Fatalf("chunked delivery after a 405 on the same connection: got %+v, want 200 processed", a)
	}
	exact := append(bytes.Clone(body[:len(body)-1]), bytes.Repeat([]byte(" "), max-len(body))...)
	exact = append(exact, '}')
	exact = bytes.Replace(exact, []byte("chunked-1"), []byte("exactly-1"), 1)
	if a := roundTrip(newReq("POST", bytes.NewReader(exact), intake.Sign(testSecret, time.Now().Unix(), exact))); a.Code != 200 || a.Status != store.StatusProcessed {
		t.Fatalf("body of exactly max_body_bytes: got %+v, want 200 processed", a)
	}
}

// dialFrom opens a connection to addr from the loopback address local
// (127.0.0.0/8 is all loopback on Linux).
func dialFrom(tb testing.TB, local, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial from %s: %v", local, err)
	}
	return c
}

// refused reports whether the server closed c without an answer: a request
// written on it reads EOF or a reset within 2 seconds.
func refused(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, "POST "+customersPath+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// activeFrom opens a connection from local that is in the middle of a
// request: its headers are read (the server answered 100 Continue) and its
// body never comes, so the connection stays active for the body timeout.
func activeFrom(tb testing.TB, local, addr string) net.Conn {
	tb.Helper()
	c := dialFrom(tb, local, addr)
	tb.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST "+customersPath+" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		tb.Fatalf("active connection from %s: read %q, %v; want 100 Continue", local, line, err)
	}
	c.SetDeadline(time.Time{})
	return c
}

// TestConnectionCaps: over the per-IP cap, and over the total cap, with
// every counted connection in the middle of a request, a new connection is
// accepted and closed at once; others are still served, and a closed
// connection gives its place back (exactly once).
func TestConnectionCaps(t *testing.T) {
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(4, 2, nil)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nRobaws-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n{", customersPath, 1<<20)
	watch := &readWatch{Listener: listen(t), want: int64(len(head))}
	addr := serveOn(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), lim.Listener(watch))

	a1, a2 := activeFrom(t, "127.0.0.1", addr), activeFrom(t, "127.0.0.1", addr)
	if _, n := lim.Open("127.0.0.1"); n != 2 {
		t.Fatalf("connections from 127.0.0.1 counted: %d, want 2", n)
	}
	start := time.Now()
	if c := dialFrom(t, "127.0.0.1", addr); !refused(c) {
		t.Fatal("third connection from 127.0.0.1 was served, want it closed (max_connections_per_ip 2, none idle)")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusal took %v, want it prompt", d)
	}
	if a := signedPostFrom(t, "127.0.0.2", addr, "other-ip"); a.Code != 200 {
		t.Fatalf("delivery from another IP: got %+v, want 200", a)
	}

	waitFor(t, 2*time.Second, "the delivery's connection not given back", func() bool {
		n, _ := lim.Open("")
		return n == 2
	})
	// Total: 2 from .1, 2 from .3 = 4 = max_connections.
	activeFrom(t, "127.0.0.3", addr)
	activeFrom(t, "127.0.0.3", addr)
	if n, _ := lim.Open(""); n != 4 {
		t.Fatalf("connections counted: %d, want 4", n)
	}
	if c := dialFrom(t, "127.0.0.4", addr); !refused(c) {
		t.Fatal("fifth connection was served, want it closed (max_connections 4, none idle)")
	}

	// Closing frees the places, once each.
	a1.Close()
	a1.Close()
	a2.Close()
	waitFor(t, 2*time.Second, "closed connections not given back", func() bool {
		_, n := lim.Open("127.0.0.1")
		return n == 0
	})
	if a := signedPostFrom(t, "127.0.0.1", addr, "after-close"); a.Code != 200 {
		t.Fatalf("delivery after closing: got %+v, want 200", a)
	}
	waitFor(t, 2*time.Second, "counts after the delivery's connection closed", func() bool {
		n, _ := lim.Open("")
		_, m := lim.Open("127.0.0.3")
		return n == 2 && m == 2
	})
}

// TestConnectionCapsCloseIdle: at a cap, the oldest idle connection (between
// keep-alive requests, or without a byte sent) makes room for a new one; a
// connection in the middle of a request never does; over the per-IP cap
// only a connection from that IP does.
func TestConnectionCapsCloseIdle(t *testing.T) {
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(5, 2, nil)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nRobaws-Signature: t=1,v1=00\r\nContent-Length: %d\r\n\r\n{", customersPath, 1<<20)
	watch := &readWatch{Listener: listen(t), want: int64(len(head))}
	addr := serveOn(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), lim.Listener(watch))

	// Per IP: .1 has an active connection and an idle keep-alive one.
	active := activeFrom(t, "127.0.0.1", addr)
	idle := keepAliveFrom(t, "127.0.0.1", addr)
	// Two bare connections from .2: the older one is the oldest idle of all.
	bare1 := dialFrom(t, "127.0.0.2", addr)
	defer bare1.Close()
	waitFor(t, 2*time.Second, "bare connection not counted", func() bool {
		_, n := lim.Open("127.0.0.2")
		return n == 1
	})
	bare2 := dialFrom(t, "127.0.0.2", addr)
	defer bare2.Close()
	waitFor(t, 2*time.Second, "bare connections not counted", func() bool {
		n, _ := lim.Open("")
		return n == 4
	})

	// A third from .1 makes room by closing .1's idle connection, not the
	// active one, nor the older bare ones from .2.
	if a := signedPostFrom(t, "127.0.0.1", addr, "per-ip"); a.Code != 200 {
		t.Fatalf("delivery from 127.0.0.1 at its cap: got %+v, want 200", a)
	}
	if !closedByServer(idle, 2*time.Second) {
		t.Fatal("the idle connection from 127.0.0.1 is still open, want it closed to make room")
	}
	waitFor(t, 2*time.Second, "open after the per-IP delivery: want 3 in total, 2 from 127.0.0.2", func() bool {
		n, m := lim.Open("127.0.0.2")
		return n == 3 && m == 2
	})

	// Total: .3 and .5 fill the fourth and fifth places; a sixth closes the
	// oldest idle one, bare1 from .2.
	c3 := keepAliveFrom(t, "127.0.0.3", addr)
	c5 := keepAliveFrom(t, "127.0.0.5", addr)
	waitFor(t, 2*time.Second, "the fifth connection not counted", func() bool {
		n, _ := lim.Open("")
		return n == 5
	})
	if a := signedPostFrom(t, "127.0.0.4", addr, "total"); a.Code != 200 {
		t.Fatalf("delivery at the total cap: got %+v, want 200", a)
	}
	if !closedByServer(bare1, 2*time.Second) {
		t.Fatal("the oldest bare connection is still open, want it closed to make room")
	}
	for name, c := range map[string]net.Conn{"active": active, "bare2": bare2, "keep-alive from .3": c3, "keep-alive from .5": c5} {
		if closedByServer(c, 100*time.Millisecond) {
			t.Fatalf("the %s connection was closed, want only the oldest idle one closed", name)
		}
	}
	if evs, _, _ := db.FindLogEntries(context.Background(), store.LogFilter{}); len(evs) != 2 {
		t.Fatalf("stored %d entries, want the 2 deliveries", len(evs))
	}
}

// signedPostFrom is signedPost from the loopback address local.
func signedPostFrom(tb testing.TB, local, addr, eventID string) answer {
	tb.Helper()
	body := delivery(eventID, "client.updated", "C-"+eventID, "Name", "")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	return postSigned(tb, client, "http://"+addr, body)
}

// TestConnLimiterConcurrent opens and closes connections from many
// goroutines; every count returns to zero.
func TestConnLimiterConcurrent(t *testing.T) {
	lim := app.NewConnLimiter(1000, 1000, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := lim.Listener(ln)
	defer lln.Close()
	go func() {
		for {
			c, err := lln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
				c.Close()
			}()
		}
	}()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 10 {
				if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
					c.Close()
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 2*time.Second, "counts did not return to zero", func() bool {
		n, m := lim.Open("127.0.0.1")
		return n == 0 && m == 0
	})
}

// TestAmbiguousFraming: a request that a proxy in front and the receiver
// could frame differently is answered 400, its connection is closed and
// nothing is stored: two different Content-Length values (RFC 9112 §6.3;
// fasthttp kept the last, so a request hidden in the body was served next),
// Content-Length with Transfer-Encoding (§6.1) and two Host headers (§3.2).
// Repeating one Content-Length value is allowed (RFC 9110 §8.6).
func TestAmbiguousFraming(t *testing.T) {
	body := delivery("framing-1", "client.updated", "C-f1", "First", "")
	hidden := delivery("framing-hidden", "client.updated", "C-hidden", "Hidden", "")
	sig := func(b []byte) string { return intake.Sign(testSecret, time.Now().Unix(), b) }
	hiddenReq := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nRobaws-Signature: %s\r\nContent-Length: %d\r\n\r\n%s",
		customersPath, sig(hidden), len(hidden), hidden)
	head := "POST " + customersPath + " HTTP/1.1\r\nRobaws-Signature: " + sig(body) + "\r\n"
	tests := []struct {
		name, request, wantErr string
	}{
		{"two Content-Length, the last shorter", head + fmt.Sprintf("Host: x\r\nContent-Length: %d\r\ncontent-length: %d\r\n\r\n", len(body)+len(hiddenReq), len(body)) + string(body) + hiddenReq,
			"conflicting Content-Length headers"},
		{"two Content-Length, the last longer", head + fmt.Sprintf("Host: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n", len(body), len(body)+1) + string(body) + " ",
			"conflicting Content-Length headers"},
		{"Content-Length and Transfer-Encoding", head + fmt.Sprintf("Host: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), len(body), body),
			"both Content-Length and Transfer-Encoding"},
		{"two Host headers", head + fmt.Sprintf("Host: x\r\nHost: y\r\nContent-Length: %d\r\n\r\n", len(body)) + string(body),
			"more than one Host header"},
		{"two Host headers, same value", head + fmt.Sprintf("Host: x\r\nhost: x\r\nContent-Length: %d\r\n\r\n", len(body)) + string(body),
			"more than one Host header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "")
			addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), nil)
			c := dialFrom(t, "127.0.0.1", addr)
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tt.request)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a := decodeAnswer(t, resp); a.Code != 400 || a.Error != tt.wantErr {
				t.Fatalf("got %+v, want 400 %q", a, tt.wantErr)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the 400: read %q, %v; want the connection closed with nothing more", rest, err)
			}
			if evs, _, _ := db.FindLogEntries(context.Background(), store.LogFilter{}); len(evs) != 0 {
				t.Fatalf("stored %d entries, want none", len(evs))
			}
		})
	}
	t.Run("one Content-Length value twice", func(t *testing.T) {
		db := MustOpenDB(t, "")
		addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{}), nil)
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "%sHost: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s", head, len(body), len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := decodeAnswer(t, resp); a.Code != 200 || a.Status != store.StatusProcessed {
			t.Fatalf("got %+v, want 200 processed", a)
		}
	})
}

// TestConnLimiterEvictedConn: a connection closed to make room gives its
// place back once, fails its reads, and setting its deadlines is not an
// error (fasthttp panics on one, and a request it had already buffered may
// still set them).
func TestConnLimiterEvictedConn(t *testing.T) {
	lim := app.NewConnLimiter(1, 1, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := lim.Listener(ln)
	defer lln.Close()
	c1 := dialFrom(t, "127.0.0.1", ln.Addr().String())
	defer c1.Close()
	first, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	c2 := dialFrom(t, "127.0.0.1", ln.Addr().String())
	defer c2.Close()
	second, err := lln.Accept() // the cap is 1: first, never read from, makes room
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if n, m := lim.Open("127.0.0.1"); n != 1 || m != 1 {
		t.Fatalf("open after the eviction: %d, %d; want 1, 1", n, m)
	}
	for name, set := range map[string]func(time.Time) error{
		"SetDeadline": first.SetDeadline, "SetReadDeadline": first.SetReadDeadline, "SetWriteDeadline": first.SetWriteDeadline,
	} {
		if err := set(time.Now().Add(time.Second)); err != nil {
			t.Errorf("%s on the evicted connection: %v, want nil", name, err)
		}
	}
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Error("read on the evicted connection succeeded, want an error")
	}
	first.Close()
	if n, _ := lim.Open("127.0.0.1"); n != 1 {
		t.Fatalf("open after closing the evicted connection: %d, want 1 (its place was given back once)", n)
	}
	second.Close()
	if n, _ := lim.Open("127.0.0.1"); n != 0 {
		t.Fatalf("open after closing both: %d, want 0", n)
	}
}
