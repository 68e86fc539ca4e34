package app

import (
	"bufio"
	"context"
	"encoding/json"
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
// matches the list's filters, from the moment it is opened.
func (h *handler) handleStreamEvents(c *fiber.Ctx) error {
	f, err := logFilter(c, false)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	cursor := h.db.LogCursor()
	// Closed when the server shuts down: Shutdown would otherwise wait
	// for open streams until its deadline.
	stop := c.Context().Done()
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
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
		for {
			ids, next, lost, wake := h.db.LogChanges(cursor)
			cursor = next
			if lost {
				w.WriteString(": some changes were missed; reload the list\n\n")
			}
			for _, id := range ids {
				ev, err := h.db.FindEventByID(context.Background(), id)
				if err != nil || !matches(f, ev) {
					continue // pruned meanwhile, or filtered out
				}
				b, err := json.Marshal(ev)
				if err != nil {
					continue
				}
				w.WriteString("data: ")
				w.Write(b)
				w.WriteString("\n\n")
			}
			if len(ids) > 0 || lost {
				if flush() != nil {
					return // the client went away
				}
			}
			select {
			case <-wake:
			case <-keep.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || flush() != nil {
					return
				}
			case <-stop:
				return
			}
		}
	})
	return nil
}

// matches reports whether ev passes the list filters of f (its page
// fields aside).
func matches(f store.LogFilter, ev *store.Event) bool {
	switch {
	case f.Event != "" && ev.Event != f.Event,
		f.Status != "" && ev.Status != f.Status,
		f.Endpoint != "" && ev.Endpoint != f.Endpoint,
		f.ClientID != "" && ev.ClientID != f.ClientID,
		!f.Since.IsZero() && ev.ReceivedAt.Before(f.Since),
		!f.Until.IsZero() && !ev.ReceivedAt.Before(f.Until):
		return false
	}
	return true
}
