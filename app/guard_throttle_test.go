package app

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// TestThrottleHoldsWhileComparing: a token being compared holds its unit
// of the budget, so guesses sent at the same instant cannot all pass the
// throttle before any of them spends (a review found 100 tokens compared
// for 60 allowed, and the right one let in after the budget was spent). A
// wrong token spends its unit; a right one gives it back.
func TestThrottleHoldsWhileComparing(t *testing.T) {
	ip := net.ParseIP("127.0.0.1")
	th := newAuthThrottle(1, time.Hour, slog.New(slog.DiscardHandler))

	end, wait := th.begin(ip)
	if wait != 0 {
		t.Fatalf("first attempt: wait %v, want admitted", wait)
	}
	if _, wait := th.begin(ip); wait == 0 {
		t.Fatal("a second attempt while the first is compared was admitted; the budget is one")
	}
	end(true) // right: nothing spent
	end, wait = th.begin(ip)
	if wait != 0 {
		t.Fatalf("after a right token: wait %v, want admitted", wait)
	}
	end(false) // wrong: the unit is spent
	if _, wait := th.begin(ip); wait < time.Second {
		t.Fatalf("after a wrong token with a budget of one: wait %v, want refused", wait)
	}
	if _, wait := th.begin(net.ParseIP("127.0.0.2")); wait != 0 {
		t.Fatal("another address shares the budget")
	}

	// Many at once: exactly the budget is admitted.
	th = newAuthThrottle(3, time.Hour, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Go(func() {
			<-start
			if end, wait := th.begin(ip); wait == 0 {
				mu.Lock()
				admitted++
				mu.Unlock()
				end(false)
			}
		})
	}
	close(start)
	wg.Wait()
	if admitted != 3 {
		t.Fatalf("%d of 64 simultaneous wrong tokens compared, want the budget, 3", admitted)
	}
}
