package app

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// streamWriteTimeout bounds one write of the stream to a slow client.
const streamWriteTimeout = 30 * time.Second

// streamKeepAlive is how often an idle stream sends a comment line, so
// proxies do not close it (SPEC §4: every 15 s).
const streamKeepAlive = 15 * time.Second

// handleStreamEvents answers GET /api/webhook-logs/stream: Server-Sent
// Events, one "data: <log entry JSON>" per new or changed entry that
// matches the list's filters, from the moment it is opened. The entries
// come from the handler's streamHub; past admin.max_followers open streams
// the answer is 503.
func (h *handler) handleStreamEvents(c *fiber.Ctx) error {
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
	// Closed when the server shuts down: Shutdown would otherwise wait
	// for open streams until its deadline.
	stop := c.Context().Done()
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer h.hub.leave()
		// The admin app's write timeout (10 min, for backups) is one
		// deadline for the whole answer: a stream would be cut by it.
		// Each write gets a deadline of its own instead, so a client
		// that stopped reading is still let go.
		flush := func() error {
			conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			return w.Flush()
		}
		// A first comment tells the client the stream is open.
		if _, err := w.WriteString(": robaws-edge log stream\n\n"); err != nil || flush() != nil {
			return
		}
		keep := time.NewTicker(streamKeepAlive)
		defer keep.Stop()
		pause := time.NewTimer(streamCoalesce)
		pause.Stop()
		defer pause.Stop()
		// Start as if woken: what arrived since join goes out at once.
		wake := closedChan
		match := func(ev *store.Event) bool { return matches(f, ev) }
		var out [][]byte
		for {
			select {
			case <-wake:
			case <-keep.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || flush() != nil {
					return
				}
				continue
			case <-stop:
				return
			}
			// Something arrived: gather for this follower's interval, so
			// a burst goes out in one write within its share. The wait is
			// spread (±50%): one commit wakes every follower, and they
			// must not all write in the same instant.
			interval, share := h.hub.pace()
			pause.Reset(interval/2 + rand.N(interval))
			select {
			case <-pause.C:
			case <-stop:
				return
			}
			var missed bool
			out, cursor, missed, wake = h.hub.take(cursor, match, share, out)
			if missed {
				w.WriteString(": some changes were missed (this follower's share of the stream was full, or it fell behind); reload the list\n\n")
			}
			for _, data := range out {
				w.WriteString("data: ")
				w.Write(data)
				w.WriteString("\n\n")
			}
			if len(out) > 0 || missed {
				if flush() != nil {
					return // the client went away
				}
			}
		}
	})
	return nil
}

// closedChan is a channel that is always ready.
var closedChan = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// matches reports whether ev passes the list filters of f (its page
// fields aside).
func matches(f store.LogFilter, ev *store.Event) bool {
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
