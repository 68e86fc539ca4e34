package intake

import (
	"errors"
	"sync"
	"time"
)

// KeptRejections is how many signed rejections per endpoint the receiver
// remembers for Rejections; more in one window count as "at least this".
const KeptRejections = 256

// activity remembers, per endpoint, when a delivery was last accepted and
// the latest rejections of deliveries that carried a well-formed signature
// (SPEC §4.1 deliveries_rejected). Scanners that send no signature, or a
// malformed one, are left out: the public URL is on the internet. It lives
// in memory: after a restart the window starts empty.
type activity struct {
	mu  sync.Mutex
	eps map[string]*endpointActivity
}

type endpointActivity struct {
	accepted time.Time
	ring     [KeptRejections]rejection
	n        int // rejections recorded (the ring holds the last KeptRejections)
}

type rejection struct {
	at     time.Time
	reason string
}

func (a *activity) get(endpoint string) *endpointActivity {
	if a.eps == nil {
		a.eps = map[string]*endpointActivity{}
	}
	e := a.eps[endpoint]
	if e == nil {
		e = &endpointActivity{}
		a.eps[endpoint] = e
	}
	return e
}

func (a *activity) accept(endpoint string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.get(endpoint); at.After(e.accepted) {
		e.accepted = at
	}
}

// reject records a rejection when its header was well-formed: the MAC did
// not match, the timestamp was outside the tolerance, or the endpoint had
// no secret to check it with.
func (a *activity) reject(endpoint string, at time.Time, err error) {
	if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrTimestamp) && !errors.Is(err, ErrNoActiveSecret) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.get(endpoint)
	e.ring[e.n%KeptRejections] = rejection{at: at, reason: err.Error()}
	e.n++
}

// Rejections says whether every delivery with a well-formed signature that
// reached endpoint in the window before now was rejected: count is how
// many were (0 when one was accepted in the window), reason the most
// frequent reason among them.
func (r *Receiver) Rejections(endpoint string, now time.Time, window time.Duration) (count int, reason string) {
	a := &r.activity
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.eps[endpoint]
	from := now.Add(-window)
	if e == nil || e.accepted.After(from) {
		return 0, ""
	}
	reasons := map[string]int{}
	for i := range min(e.n, KeptRejections) {
		rj := e.ring[i]
		if rj.at.After(from) && !rj.at.After(now) {
			count++
			reasons[rj.reason]++
			if reasons[rj.reason] > reasons[reason] {
				reason = rj.reason
			}
		}
	}
	return count, reason
}
