package app_test

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
)

// TestTrickleFloodEvicted: 512 connections from 8 addresses that each sent
// the first bytes of a request line and then trickle a byte now and then
// (so they are neither idle nor bare, and the header timeout is far off)
// fill the caps; deliveries from another address still get in, because a
// request still arriving after a second may be closed to make room. A
// request read whole is never cut (the deliveries themselves show it).
func TestTrickleFloodEvicted(t *testing.T) {
	db := MustOpenDB(t, "")
	lim := app.NewConnLimiter(defaultMaxConns, defaultMaxConnsPerIP, nil)
	addr := serveLimited(t, app.NewPublic(MustReceiver(t, db, time.Time{}, nil), noHeaderTimeout), lim)

	var mu sync.Mutex
	var trickling []net.Conn
	for i := range defaultMaxConns {
		c := dialFrom(t, fmt.Sprintf("127.0.3.%d", 1+i%8), addr)
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte("P")); err != nil {
			t.Fatal(err)
		}
		trickling = append(trickling, c)
	}
	waitFor(t, 5*time.Second, "open connections not at the cap", func() bool {
		n, _ := lim.Open("")
		return n == defaultMaxConns
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			mu.Lock()
			for _, c := range trickling {
				c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
				c.Write([]byte("O")) // closed ones fail: fine
			}
			mu.Unlock()
		}
	})
	time.Sleep(1200 * time.Millisecond) // past slowRequest
	ok, firstErr := deliverMany(addr, "127.0.0.60", "trickle-flood", 200)
	close(done)
	wg.Wait()
	t.Logf("512 trickling connections from 8 addresses: %d of 200 deliveries answered 200 (first failure: %s)", ok, firstErr)
	if ok < 195 {
		t.Fatalf("%d of 200 deliveries answered 200, want at least 195 (first failure: %s)", ok, firstErr)
	}
}
