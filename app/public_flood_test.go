package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// Defaults of receiver.max_connections and receiver.max_connections_per_ip.
const (
	defaultMaxConns      = 512
	defaultMaxConnsPerIP = 64
)

// noHeaderTimeout keeps bare connections open for the whole of a flood
// test, so that what it shows is the caps making room, not the header
// timeout.
var noHeaderTimeout = app.PublicConfig{HeaderTimeout: time.Hour}

// tryPostFrom sends one signed delivery from the loopback address local on
// a new connection, as Robaws does (2 s to connect), and returns the status
// code, or an error when the connection was refused or closed unanswered.
func tryPostFrom(local, addr, eventID string) (int, error) {
	body := delivery(eventID, "client.updated", "C-"+eventID, "Name", "")
	req := signedRequest("http://"+addr, body)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// deliverMany sends n signed deliveries one after the other from local and
// returns how many were answered 200 and the first failure.
func deliverMany(addr, local, prefix string, n int) (ok int, firstErr string) {
	for i := range n {
		code, err := tryPostFrom(local, addr, fmt.Sprintf("%s-%d", prefix, i))
		switch {
		case err == nil && code == 200:
			ok++
		case firstErr != "":
		case err != nil:
			firstErr = err.Error()
		default:
			firstErr = fmt.Sprintf("status %d", code)
		}
	}
	return ok, firstErr
}

// keepAliveFrom opens a connection from local, sends one request (a 404,
// nothing stored) and reads its answer, leaving the connection idle
// between requests. It returns nil when the connection was not served.
func keepAliveFrom(tb testing.TB, local, addr string) net.Conn {
	tb.Helper()
	c := dialFrom(tb, local, addr)
	tb.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetDeadline(time.Time{})
	if resp.StatusCode != 404 || resp.Close {
		tb.Fatalf("keep-alive request from %s: status %d, close %v; want 404 kept open", local, resp.StatusCode, resp.Close)
	}
	return c
}

// closedByServer reports whether the server has closed c: a read returns
// EOF or a reset (and no data) within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestIdleKeepAliveFloodEvicted is the experiment: 520 idle
// keep-alive connections from 9 addresses fill receiver.max_connections
// (512). A delivery from another address must still be answered: the
// receiver closes the oldest idle connection to make room instead of
// refusing the new one (before: 0 of 200 answered).
func TestIdleKeepAliveFloodEvicted(t *testing.T) {
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(defaultMaxConns, defaultMaxConnsPerIP, nil)
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), noHeaderTimeout), lim)

	var idle []net.Conn // in the order opened
	for i := range 520 {
		local := fmt.Sprintf("127.0.0.%d", 10+i%9)
		if c := keepAliveFrom(t, local, addr); c != nil {
			idle = append(idle, c)
		}
	}
	waitFor(t, 5*time.Second, "open connections not at the cap", func() bool {
		n, _ := lim.Open("")
		return n == defaultMaxConns
	})

	ok, firstErr := deliverMany(addr, "127.0.0.50", "idle-flood", 200)
	t.Logf("520 idle keep-alive connections from 9 addresses (%d served): %d of 200 deliveries answered 200 (first failure: %s)", len(idle), ok, firstErr)
	if len(idle) != 520 {
		t.Fatalf("%d of 520 idle connections were served, want all (the oldest idle ones make room)", len(idle))
	}
	if ok < 195 {
		t.Fatalf("%d of 200 deliveries answered 200, want at least 195 (first failure: %s)", ok, firstErr)
	}
	if evs, _, _ := db.FindLogEntries(context.Background(), store.LogFilter{Limit: 1000}); len(evs) != ok {
		t.Fatalf("stored %d entries, want %d", len(evs), ok)
	}
	// Oldest first: every connection closed to make room is among the
	// oldest, and the newest is still open and still serves a request.
	//
	// Not "the very first one opened": the limiter's clock of idleness is
	// stamped by fasthttp's StateIdle hook, which runs on the connection's
	// server goroutine after the answer is written and flushed. On a busy
	// machine that goroutine can be descheduled for a few milliseconds right
	// after the write while this client, already answered, opens the next
	// connections; the first one's stamp then comes after those of a few
	// dozen newer ones (up to 52 seen on 2 loaded cores), and only ~10 are
	// closed. The window below is a quarter of the cap: a limiter closing
	// idle connections in any other order would put some of its ~10 victims
	// outside it.
	const oldest = defaultMaxConns / 4
	waitFor(t, 5*time.Second, "delivery connections still counted", func() bool {
		_, n := lim.Open("127.0.0.50")
		return n == 0
	})
	open, _ := lim.Open("")
	evicted := len(idle) - open
	if evicted < len(idle)-defaultMaxConns {
		t.Fatalf("%d idle connections closed to make room, want at least %d", evicted, len(idle)-defaultMaxConns)
	}
	closed := make([]bool, oldest)
	var wg sync.WaitGroup
	for i, c := range idle[:oldest] {
		wg.Go(func() { closed[i] = closedByServer(c, 2*time.Second) })
	}
	wg.Wait()
	var ranks []int
	for i, ok := range closed {
		if ok {
			ranks = append(ranks, i)
		}
	}
	t.Logf("%d idle connections closed to make room; among the %d oldest, closed: %v", evicted, oldest, ranks)
	if len(ranks) != evicted {
		t.Fatalf("%d of the %d idle connections closed to make room are among the %d oldest (%v), want all: the oldest idle ones go first",
			len(ranks), evicted, oldest, ranks)
	}
	newest := idle[len(idle)-1]
	newest.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(newest, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(newest), nil); err != nil || resp.StatusCode != 404 {
		t.Fatalf("the newest idle connection: %v, want it still open and served", err)
	}
}

// TestBareConnectionFloodEvicted: 1,000 connections from 20 addresses that
// never send a byte, and two attackers that open 1,000 more each while the
// deliveries run. Bare connections count as idle, so a delivery from
// another address makes room (before: 0 of 200 answered).
func TestBareConnectionFloodEvicted(t *testing.T) {
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(defaultMaxConns, defaultMaxConnsPerIP, nil)
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), noHeaderTimeout), lim)

	for i := range 1000 {
		c := dialFrom(t, fmt.Sprintf("127.0.1.%d", 1+i%20), addr)
		t.Cleanup(func() { c.Close() })
	}
	waitFor(t, 5*time.Second, "open connections not at the cap", func() bool {
		n, _ := lim.Open("")
		return n == defaultMaxConns
	})

	done := make(chan struct{})
	var wg sync.WaitGroup
	var refills atomic.Int64
	for a := range 2 {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.2.%d", 1+a))}, Timeout: 2 * time.Second}
			var open []net.Conn
			defer func() {
				for _, c := range open {
					c.Close()
				}
			}()
			for range 1000 {
				select {
				case <-done:
					return
				default:
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					continue
				}
				refills.Add(1)
				if open = append(open, c); len(open) == defaultMaxConnsPerIP {
					open[0].Close()
					open = open[1:]
				}
			}
		})
	}
	ok, firstErr := deliverMany(addr, "127.0.0.50", "bare-flood", 200)
	close(done)
	wg.Wait()
	t.Logf("1,000 bare connections from 20 addresses, %d more opened meanwhile: %d of 200 deliveries answered 200 (first failure: %s)", refills.Load(), ok, firstErr)
	if ok < 195 {
		t.Fatalf("%d of 200 deliveries answered 200, want at least 195 (first failure: %s)", ok, firstErr)
	}
}

// closedWithin reports whether the server closes c within d, whatever it
// writes before closing.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err == nil || !isTimeout(err)
}

// TestHeaderTimeout: receiver.header_timeout bounds the wait for a request
// line and headers, on a new connection and on a keep-alive connection's
// next request; it does not cut a body that comes later, nor a keep-alive
// connection waiting between requests (before, both kinds of silent
// connection were held for 10 s).
func TestHeaderTimeout(t *testing.T) {
	const headerTimeout = 200 * time.Millisecond
	db := MustOpenDB(t, "")
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), app.PublicConfig{HeaderTimeout: headerTimeout}), nil)

	t.Run("no request line", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("a connection that sent nothing is still open after 5s, want it closed after header_timeout")
		}
	})
	t.Run("headers never finished", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		io.WriteString(c, "POST "+customersPath+" HTTP/1.1\r\nHost: x\r\n")
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("a connection with unfinished headers is still open after 5s, want it closed after header_timeout")
		}
	})
	t.Run("keep-alive request never finished", func(t *testing.T) {
		c := keepAliveFrom(t, "127.0.0.1", addr)
		io.WriteString(c, "POST "+customersPath)
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("a keep-alive connection with an unfinished request line is still open after 5s, want it closed")
		}
	})
	t.Run("body after the header timeout", func(t *testing.T) {
		body := delivery("late-body", "client.updated", "C-late", "Late", "")
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nRobaws-Signature: %s\r\nContent-Length: %d\r\n\r\n",
			customersPath, intake.Sign(testSecret, time.Now().Unix(), body), len(body))
		time.Sleep(3 * headerTimeout) // pacing: the body comes after header_timeout
		c.Write(body)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a body sent after header_timeout: %v, want it read (the body has its own timeout)", err)
		}
		if a := decodeAnswer(t, resp); a.Code != 200 || a.Status != store.StatusProcessed {
			t.Fatalf("a body sent after header_timeout: got %+v, want 200 processed", a)
		}
	})
	t.Run("keep-alive wait longer than the header timeout", func(t *testing.T) {
		c := keepAliveFrom(t, "127.0.0.1", addr)
		time.Sleep(3 * headerTimeout) // pacing: idle for longer than header_timeout
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 404 {
			t.Fatalf("a request after an idle wait: %v, want the 404 (idle keep-alive waits up to 60s)", err)
		}
	})
}
