package intake

import (
	"sync"
	"sync/atomic"
	"time"
)

// limiter caps how many rejected deliveries are logged per wall-clock
// minute (receiver.rejected_per_minute) and counts the ones it turns away.
// Accepted deliveries never pass through it (SPEC §1.4).
type limiter struct {
	limit int

	mu     sync.Mutex
	window int64 // unix minute
	count  int

	dropped atomic.Int64
}

// allow reports whether one more rejected delivery at now may be logged;
// when not, it counts the delivery as dropped.
func (l *limiter) allow(now time.Time) bool {
	minute := now.Unix() / 60
	l.mu.Lock()
	if minute != l.window {
		l.window, l.count = minute, 0
	}
	l.count++
	ok := l.count <= l.limit
	l.mu.Unlock()
	if !ok {
		l.dropped.Add(1)
	}
	return ok
}
