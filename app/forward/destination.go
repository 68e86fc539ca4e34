package forward

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// keptAttempts is how many attempts a destination remembers (SPEC §8).
const keptAttempts = 100

// readAhead is how many items one read of the stream loads.
const readAhead = 64

// dest is one destination: its config, its sender and what its goroutine
// (run) knows, guarded by mu for the status readers.
type dest struct {
	f      *Forwarder
	cfg    Destination
	filter store.ForwardFilter
	send   func(context.Context, *store.ForwardItem) answer
	close  func()
	logger *slog.Logger
	// resume ends a pause or a wait between attempts; poke makes run look
	// at its state again (a pause, a resend). Both hold one signal.
	resume, poke chan struct{}

	mu       sync.Mutex
	st       store.ForwardState
	loaded   bool
	pending  int
	counted  uint64 // the stream position pending counts up to
	dead     int
	queue    []store.ForwardQueued
	requeue  bool      // the queue changed in the database
	headAt   time.Time // when the next item to send entered its stream
	failures int       // failed attempts of that item in a row
	since    time.Time // its first failed attempt
	next     time.Time // its next attempt, while waiting
	lastErr  string
	attempts []Attempt // a ring of keptAttempts, oldest at ring
	ring     int
	dirty    bool // st changed since it was saved
	// deadCounted is when refresh last counted the dead list (run's own).
	deadCounted time.Time
	savedAt     time.Time
}

func newDest(f *Forwarder, d Destination) (*dest, error) {
	x := &dest{f: f, cfg: d, resume: make(chan struct{}, 1), poke: make(chan struct{}, 1),
		filter: store.ForwardFilter{IncludeTest: d.IncludeTest},
		logger: f.cfg.Logger.With("destination", d.Name)}
	if d.Stream == store.StreamEvents {
		x.filter.Events = d.Events
	}
	switch d.Kind {
	case KindHTTP:
		s, err := newHTTPSender(d, f.cfg.Version, f.cfg.Now)
		if err != nil {
			return nil, err
		}
		x.send, x.close = s.send, func() {}
	case KindNATS:
		s := newNATSSender(d, x.logger)
		x.send, x.close = s.send, s.close
	default:
		return nil, fmt.Errorf("forward.%s.kind: unknown kind %q (want http or nats)", d.Name, d.Kind)
	}
	return x, nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// load reads the destination's state from the database.
func (d *dest) load(ctx context.Context) error {
	st, err := d.f.db.FindForwardState(ctx, d.cfg.Name)
	if err != nil {
		return err
	}
	dead, err := d.f.db.FindForwardDead(ctx, d.cfg.Name)
	if err != nil {
		return err
	}
	q, err := d.f.db.FindForwardQueue(ctx, d.cfg.Name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st, d.dead, d.queue, d.loaded = *st, len(dead), q, true
	d.counted, d.pending, d.savedAt = st.Cursor, len(q), d.f.cfg.Now()
	return nil
}

// run forwards until ctx ends; it saves the cursor before it returns.
func (d *dest) run(ctx context.Context) {
	defer d.close()
	for {
		err := d.load(ctx)
		if err == nil {
			break
		}
		d.logger.Error("forward destination cannot read its state", "error", err)
		if !sleep(ctx, 5*time.Second, nil) {
			return
		}
	}
	var buf []store.ForwardItem
	for ctx.Err() == nil {
		wake := d.f.db.ForwardWake()
		if err := d.refresh(ctx); err != nil {
			d.logger.Error("forward destination cannot read its stream", "error", err)
			sleep(ctx, time.Second, nil)
			continue
		}
		if d.paused() {
			d.save(false)
			select {
			case <-ctx.Done():
			case <-wake: // count what arrives meanwhile
			case <-d.resume:
			case <-d.poke:
			}
			continue
		}
		it, q, err := d.nextItem(ctx, &buf)
		if err != nil {
			if ctx.Err() == nil {
				d.logger.Error("forward destination cannot read its stream", "error", err)
				sleep(ctx, time.Second, nil)
			}
			continue
		}
		if it == nil {
			d.idle()
			d.save(false)
			select {
			case <-ctx.Done():
			case <-wake:
			case <-d.resume:
			case <-d.poke:
			}
			continue
		}
		if q == nil && !d.giveWay(ctx, it.At) {
			continue // ctx ended or a pause came: the loop's top sees which
		}
		// A resume sent while no wait ran must not skip the next one.
		select {
		case <-d.resume:
		default:
		}
		_, a, took := d.attempt(ctx, it, false)
		if ctx.Err() != nil {
			break // shutting down: the item goes again at the next start
		}
		d.settle(ctx, it, q, a, took, &buf)
	}
	d.save(true)
}

// giveWay waits while the intake is busy (deliveries arriving less than
// Quiet apart), until the item that entered the stream at entered has
// waited MaxDefer: acknowledging Robaws within its 2 s comes first, on a
// small machine the two compete for the same cores, and catching up later
// costs the same. False when ctx ended or the destination was paused.
func (d *dest) giveWay(ctx context.Context, entered time.Time) bool {
	quiet, most := d.f.cfg.Quiet, d.f.cfg.MaxDefer
	if most < 0 {
		return true
	}
	for {
		if d.paused() {
			return false
		}
		now := time.Now()
		busy := quiet - now.Sub(d.f.db.ForwardLastAdded())
		left := most - now.Sub(entered)
		if busy <= 0 || left <= 0 {
			return true
		}
		if !sleep(ctx, min(busy, left), d.poke) {
			return false
		}
	}
}

// sleep waits for dur, ctx or a value on wake (nil: none); false when ctx
// ended.
func sleep(ctx context.Context, dur time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

func (d *dest) paused() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Paused
}

// refresh counts the stream's new items into pending and reloads the queue
// after a resend.
func (d *dest) refresh(ctx context.Context) error {
	d.mu.Lock()
	from, requeue := d.counted, d.requeue
	d.requeue = false
	d.mu.Unlock()
	n, _, end, err := d.f.db.ForwardPending(ctx, d.cfg.Stream, from, d.filter)
	if err != nil {
		return err
	}
	var q []store.ForwardQueued
	if requeue {
		if q, err = d.f.db.FindForwardQueue(ctx, d.cfg.Name); err != nil {
			return err
		}
	}
	// The dead list is counted from the database now and then: retention
	// prunes dead items with their entries, and a resend takes them out.
	dead := -1
	if now := d.f.cfg.Now(); now.Sub(d.deadCounted) >= time.Second {
		list, err := d.f.db.FindForwardDead(ctx, d.cfg.Name)
		if err != nil {
			return err
		}
		dead, d.deadCounted = len(list), now
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if end > d.counted {
		d.pending += n
		d.counted = end
	}
	if requeue {
		d.queue = q
	}
	if dead >= 0 {
		d.dead = dead
	}
	return nil
}

// nextItem returns the next item to send: a re-sent one whose turn has
// come (its After is behind the next stream item), else the next item of
// the stream; nil when there is none. Items the filter skips move the
// cursor.
func (d *dest) nextItem(ctx context.Context, buf *[]store.ForwardItem) (*store.ForwardItem, *store.ForwardQueued, error) {
	for {
		d.mu.Lock()
		cursor := d.st.Cursor
		var q *store.ForwardQueued
		if len(d.queue) > 0 {
			q = &d.queue[0]
		}
		d.mu.Unlock()
		if len(*buf) == 0 {
			items, last, err := d.f.db.ReadForward(ctx, d.cfg.Stream, cursor, readAhead, d.filter)
			if err != nil {
				return nil, nil, err
			}
			if len(items) == 0 && last > cursor {
				d.mu.Lock()
				d.st.Cursor, d.dirty = last, true
				d.mu.Unlock()
				continue
			}
			*buf = items
		}
		if q != nil && (len(*buf) == 0 || q.After < (*buf)[0].Seq) {
			items, err := d.f.db.LoadForward(ctx, d.cfg.Stream, []uint64{q.Ref}, false)
			if err != nil {
				return nil, nil, err
			}
			if items[0] == nil {
				// Pruned meanwhile: nothing left to send.
				if err := d.f.db.UpdateForward(ctx, d.cfg.Name, store.ForwardUpdate{Dequeue: q.Key}); err != nil {
					return nil, nil, err
				}
				d.mu.Lock()
				d.queue, d.pending = d.queue[1:], max(d.pending-1, 0)
				d.mu.Unlock()
				continue
			}
			it := items[0]
			it.At = q.At
			d.setHead(it.At)
			return it, q, nil
		}
		if len(*buf) == 0 {
			return nil, nil, nil
		}
		it := (*buf)[0]
		d.setHead(it.At)
		return &it, nil, nil
	}
}

func (d *dest) setHead(at time.Time) {
	d.mu.Lock()
	d.headAt = at
	d.mu.Unlock()
}

// idle notes that everything is delivered: nothing pending.
func (d *dest) idle() {
	d.mu.Lock()
	d.pending, d.headAt = 0, time.Time{}
	d.mu.Unlock()
}

// attempt sends it once and records the attempt (a test item does not
// change the destination's last error).
func (d *dest) attempt(ctx context.Context, it *store.ForwardItem, test bool) (Attempt, answer, time.Duration) {
	start := d.f.cfg.Now()
	t0 := time.Now()
	a := d.send(ctx, it)
	took := time.Since(t0)
	at := Attempt{At: start.UTC(), ItemID: it.ID, LogID: it.LogID, StatusCode: a.code,
		DurationMS: float64(took.Microseconds()) / 1000, ResponseExcerpt: a.excerpt}
	if a.outcome != delivered {
		msg := a.err
		at.Error = &msg
	}
	if ctx.Err() != nil && !test {
		return at, a, took // cut by shutdown: not an answer of the target
	}
	d.mu.Lock()
	if len(d.attempts) < keptAttempts {
		d.attempts = append(d.attempts, at)
	} else {
		d.attempts[d.ring] = at
		d.ring = (d.ring + 1) % keptAttempts
	}
	if !test {
		d.lastErr = a.err
	}
	d.mu.Unlock()
	if test && d.f.cfg.OnAttempt != nil {
		d.f.cfg.OnAttempt(d.cfg.Name, "test", took)
	}
	return at, a, took
}

// settle acts on an attempt's answer: a delivered item moves the cursor; a
// refused one counts towards dead; anything else waits for the next try.
func (d *dest) settle(ctx context.Context, it *store.ForwardItem, q *store.ForwardQueued, a answer, took time.Duration, buf *[]store.ForwardItem) {
	result := "failed"
	defer func() {
		if d.f.cfg.OnAttempt != nil {
			d.f.cfg.OnAttempt(d.cfg.Name, result, took)
		}
	}()
	if a.outcome == delivered {
		result = "delivered"
		d.pass(ctx, it, q, nil, buf)
		return
	}
	d.mu.Lock()
	if a.outcome == refused {
		if d.st.Head == it.ID {
			d.st.Refusals++
		} else {
			d.st.Head, d.st.Refusals = it.ID, 1
		}
		d.dirty = true
	}
	refusals := d.st.Refusals
	d.failures++
	if d.since.IsZero() {
		d.since = d.f.cfg.Now()
	}
	d.mu.Unlock()
	if a.outcome == refused && refusals >= d.f.cfg.Refusals {
		result = "dead"
		dead := &store.ForwardDead{ItemID: it.ID, Ref: it.Ref, LogID: it.LogID, DeadAt: d.f.cfg.Now().UTC(),
			Attempts: max(d.failuresNow(), refusals), LastStatusCode: a.code, LastError: a.err}
		d.logger.Error("forward item set aside as dead: the target refused it", "item_id", it.ID, "refusals", refusals, "status_code", a.code, "error", a.err)
		d.pass(ctx, it, q, dead, buf)
		return
	}
	if a.outcome == refused {
		d.save(true) // a crash must not reset the count of refusals
	}
	pause := wait(d.f.cfg.Schedule, d.failuresNow(), a.retryAfter)
	d.logger.Warn("forward attempt failed", "item_id", it.ID, "status_code", a.code, "error", a.err, "retry_in", pause.String())
	d.waitRetry(ctx, pause)
}

func (d *dest) failuresNow() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failures
}

// waitRetry waits before the next attempt of the head item; resume ends
// the wait, a pause too; new items and a resend are counted meanwhile.
func (d *dest) waitRetry(ctx context.Context, pause time.Duration) {
	d.mu.Lock()
	d.next = d.f.cfg.Now().Add(pause)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.next = time.Time{}
		d.mu.Unlock()
	}()
	t := time.NewTimer(pause)
	defer t.Stop()
	// What arrives meanwhile is counted, so pending stays true during a
	// long wait; the next wake is taken before each count.
	wake := d.f.db.ForwardWake()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-d.resume:
			return
		case <-wake:
			wake = d.f.db.ForwardWake()
			if err := d.refresh(ctx); err != nil && ctx.Err() == nil {
				d.logger.Error("forward destination cannot read its stream", "error", err)
			}
		case <-d.poke:
			if d.paused() {
				return
			}
			if err := d.refresh(ctx); err != nil && ctx.Err() == nil {
				d.logger.Error("forward destination cannot read its stream", "error", err)
			}
		}
	}
}

// pass moves past it: delivered (dead nil) or set aside as dead. A dead
// item and a re-sent one are written at once; a delivered stream item
// moves the cursor in memory, saved at most every SaveEvery.
func (d *dest) pass(ctx context.Context, it *store.ForwardItem, q *store.ForwardQueued, dead *store.ForwardDead, buf *[]store.ForwardItem) {
	d.mu.Lock()
	st := d.st
	st.Head, st.Refusals = "", 0
	if dead == nil {
		st.Delivered++
		st.LastOK = d.f.cfg.Now().UTC()
	}
	if q == nil {
		*buf = (*buf)[1:]
		st.Cursor = it.Seq
	}
	recovered := d.failures > 0
	d.mu.Unlock()
	if q != nil || dead != nil {
		u := store.ForwardUpdate{State: &st, Dead: dead}
		if q != nil {
			u.Dequeue = q.Key
		}
		if err := d.f.db.UpdateForward(ctx, d.cfg.Name, u); err != nil {
			// Not moved: the item goes again (a repeat, never a loss).
			d.logger.Error("forward destination cannot save its cursor", "error", err)
			*buf = nil
			sleep(ctx, time.Second, nil)
			return
		}
	}
	if recovered && dead == nil {
		d.logger.Info("forward target accepts items again", "item_id", it.ID)
	}
	d.mu.Lock()
	// Only what the loop owns: a pause set meanwhile stays.
	d.st.Cursor, d.st.Delivered, d.st.LastOK, d.st.Head, d.st.Refusals = st.Cursor, st.Delivered, st.LastOK, st.Head, st.Refusals
	d.failures, d.since, d.lastErr = 0, time.Time{}, ""
	d.pending = max(d.pending-1, 0)
	if dead != nil {
		d.dead++
	}
	if q != nil {
		d.queue = d.queue[1:]
		d.savedAt = d.f.cfg.Now()
	} else if dead == nil {
		d.dirty = true
	} else {
		d.dirty, d.savedAt = false, d.f.cfg.Now()
	}
	d.mu.Unlock()
	d.save(false)
}

// save writes the state when it changed: at once with force, else when
// SaveEvery passed since the last save (or the destination is idle).
func (d *dest) save(force bool) {
	d.mu.Lock()
	now := d.f.cfg.Now()
	if !d.dirty || !d.loaded || !force && now.Sub(d.savedAt) < d.f.cfg.SaveEvery && d.pending > 0 && !d.st.Paused {
		d.mu.Unlock()
		return
	}
	st := d.st
	d.mu.Unlock()
	// The save goes through even while the daemon stops: it is what keeps
	// a restart from repeating what was delivered.
	if err := d.f.db.UpdateForward(context.Background(), d.cfg.Name, store.ForwardUpdate{State: &st}); err != nil {
		d.logger.Error("forward destination cannot save its cursor", "error", err)
		return
	}
	d.mu.Lock()
	if d.st == st {
		d.dirty = false
	}
	d.savedAt = now
	d.mu.Unlock()
}

// setPaused pauses or resumes: kept in the database, then told to run.
func (d *dest) setPaused(ctx context.Context, paused bool) error {
	if err := d.f.db.SetForwardPaused(ctx, d.cfg.Name, paused); err != nil {
		return err
	}
	d.mu.Lock()
	d.st.Paused = paused
	d.mu.Unlock()
	if paused {
		signal(d.poke)
	} else {
		signal(d.resume)
	}
	return nil
}

// queued notes n items re-sent, dead left on the dead list: the queue is
// read again.
func (d *dest) queued(n, dead int) {
	d.mu.Lock()
	d.pending += n
	d.requeue = true
	d.dead = dead
	d.mu.Unlock()
	signal(d.poke)
}

func (d *dest) status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{Name: d.cfg.Name, Kind: d.cfg.Kind, Stream: d.cfg.Stream, Target: RedactTarget(d.cfg.URL),
		Status: "ok", Pending: d.pending, Delivered: d.st.Delivered, Dead: d.dead, AlertAfter: d.cfg.AlertAfter.Seconds()}
	switch {
	case d.st.Paused:
		s.Status = "paused"
	case !d.next.IsZero():
		s.Status = "retrying"
		n := d.next.UTC()
		s.NextAttemptAt = &n
	}
	if d.pending > 0 && !d.headAt.IsZero() {
		t := d.headAt.UTC()
		s.OldestPendingAt = &t
	}
	if !d.st.LastOK.IsZero() {
		t := d.st.LastOK
		s.LastSuccessAt = &t
	}
	if d.lastErr != "" {
		e := d.lastErr
		s.LastError = &e
	}
	if !d.since.IsZero() {
		t := d.since.UTC()
		s.RetryingSince = &t
	}
	return s
}

func (d *dest) attemptsNewestFirst() []Attempt {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Attempt, 0, len(d.attempts))
	out = append(out, d.attempts[d.ring:]...)
	out = append(out, d.attempts[:d.ring]...)
	slices.Reverse(out)
	return out
}
