package app

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// streamWriteTimeout bounds one write of the stream to a slow client.
const streamWriteTimeout = 30 * time.Second

// streamKeepAlive is how often an idle stream sends a comment line, so
// proxies do not close it (SPEC §4: every 15 s).
const streamKeepAlive = 15 * time.Second

// handleStreamLogEntries answers GET /api/webhook-logs/stream: Server-Sent
// Events, one "data: <log entry JSON>" per new or changed entry that
// matches the list's filters, from the moment it is opened. The entries
// come from the handler's streamHub; past admin.max_followers open streams
// the answer is 503.
func (h *handler) handleStreamLogEntries(c *fiber.Ctx) error {
	f, err := logFilter(c, false)
	if err != nil {
		return err
	}
	cursor, ok := h.hub.join()
	if !ok {
		c.Set(fiber.HeaderRetryAfter, "30")
		return fiber.NewError(fiber.StatusServiceUnavailable, fmt.Sprintf(
			"too many open log streams (admin.max_followers is %d): close one (a console tab, a logs --follow) or raise admin.max_followers", h.hub.max))
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	// stop is closed when the server shuts down: Shutdown would otherwise
	// wait for open streams until its deadline.
	fl := &follower{hub: h.hub, filter: f, cursor: cursor, stop: c.Context().Done(), conn: c.Context().Conn()}
	// A console stream ends once its session does (logout), at the next
	// keep-alive or entry.
	fl.alive, _ = c.Locals(streamAlive).(func() bool)
	c.Context().SetBodyStreamWriter(fl.run)
	return nil
}

// follower writes one open log stream.
type follower struct {
	hub    *streamHub
	filter store.LogFilter
	cursor uint64 // the hub's position this follower has sent up to
	stop   <-chan struct{}
	alive  func() bool // nil: no session to outlive
	conn   net.Conn
	w      *bufio.Writer
	out    [][]byte // reused between writes
}

// run writes the stream until the client goes away or the server stops.
func (fl *follower) run(w *bufio.Writer) {
	defer fl.hub.leave()
	fl.w = w
	// A first comment tells the client the stream is open.
	if fl.send(": robaws-edge log stream\n\n") != nil {
		return
	}
	keep := time.NewTicker(streamKeepAlive)
	defer keep.Stop()
	pause := time.NewTimer(streamCoalesce)
	pause.Stop()
	defer pause.Stop()
	// Start as if woken: what arrived since join goes out at once.
	wake := closedChan
	for {
		select {
		case <-wake:
		case <-keep.C:
			if fl.ended() || fl.send(": keep-alive\n\n") != nil {
				return
			}
			continue
		case <-fl.stop:
			return
		}
		// Something arrived: gather for this follower's interval, so a
		// burst goes out in one write within its share. The wait is spread
		// (±50%): one commit wakes every follower, and they must not all
		// write in the same instant.
		interval, share := fl.hub.pace()
		pause.Reset(interval/2 + rand.N(interval))
		select {
		case <-pause.C:
		case <-fl.stop:
			return
		}
		if fl.ended() {
			return
		}
		var err error
		if wake, err = fl.sendNew(share); err != nil {
			return // the client went away
		}
	}
}

// ended reports whether the stream's session was logged out.
func (fl *follower) ended() bool { return fl.alive != nil && !fl.alive() }

// sendNew writes the matching entries that arrived since the last write,
// within share bytes, and a comment when some were left out; it returns the
// channel closed when more arrive.
func (fl *follower) sendNew(share int) (<-chan struct{}, error) {
	var missed bool
	var wake <-chan struct{}
	fl.out, fl.cursor, missed, wake = fl.hub.take(fl.cursor, fl.match, share, fl.out)
	// A bufio.Writer keeps its first error: flush reports it.
	if missed {
		fl.w.WriteString(": some changes were missed (this follower's share of the stream was full, or it fell behind); reload the list\n\n")
	}
	for _, data := range fl.out {
		fl.w.WriteString("data: ")
		fl.w.Write(data)
		fl.w.WriteString("\n\n")
	}
	if len(fl.out) == 0 && !missed {
		return wake, nil
	}
	return wake, fl.flush()
}

// send writes s and flushes it.
func (fl *follower) send(s string) error {
	fl.w.WriteString(s)
	return fl.flush()
}

// flush sends what is buffered. The admin app's write timeout (10 min, for
// backups) is one deadline for the whole answer: a stream would be cut by
// it. Each write gets a deadline of its own instead, so a client that
// stopped reading is still let go.
func (fl *follower) flush() error {
	if err := fl.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		return err
	}
	return fl.w.Flush()
}

// match reports whether ev passes the follower's filters.
func (fl *follower) match(ev *store.LogEntry) bool { return matches(fl.filter, ev) }

// closedChan is a channel that is always ready.
var closedChan = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// matches reports whether ev passes the list filters of f (its page
// fields aside).
func matches(f store.LogFilter, ev *store.LogEntry) bool {
	switch {
	case f.Event != "" && ev.Event != f.Event,
		f.Status != "" && ev.Status != f.Status,
		f.Endpoint != "" && ev.Endpoint != f.Endpoint,
		f.ClientID != "" && ev.ClientID != f.ClientID,
		!f.Since.IsZero() && ev.ReceivedAt.Before(f.Since),
		!f.Until.IsZero() && !ev.ReceivedAt.Before(f.Until),
		f.ExcludeTest && ev.Test:
		return false
	}
	return true
}
