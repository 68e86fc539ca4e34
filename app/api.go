package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// statuses are the stored log statuses, in the order the API lists them.
var statuses = []string{store.StatusProcessed, store.StatusFailed, store.StatusIgnored, store.StatusStale, store.StatusRejected}

// handleHealth answers GET /api/health.
func (h *handler) handleHealth(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	return c.JSON(health(c.UserContext(), h.db, h.recv, h.cfg, h.cfg.Now()))
}

// handleStats answers GET /api/stats.
func (h *handler) handleStats(c *fiber.Ctx) error {
	p, err := queryParams(c, "test")
	if err != nil {
		return err
	}
	test, err := p.flag("test")
	if err != nil {
		return err
	}
	s, err := stats(c.UserContext(), h.db, h.recv, h.cfg.Now(), test)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

// stats gathers the counters of the log and the customer cache; last_24h
// counts entries received in the 24 hours before now. Send-test data is
// left out unless test.
func stats(ctx context.Context, db *store.DB, r *intake.Receiver, now time.Time, test bool) (*Stats, error) {
	s, err := db.Stats(ctx, now.Add(-24*time.Hour), test)
	if err != nil {
		return nil, err
	}
	out := &Stats{
		Deliveries: DeliveryStats{
			Total: s.Total, ByStatus: map[string]int64{}, ByEvent: s.ByEvent,
			Last24h: RecentStats{Total: s.RecentTotal, ByStatus: map[string]int64{}},
		},
		Customers:       CustomerStats{Total: s.Customers, ByRole: s.ByRole},
		RejectedDropped: r.RejectedDropped(),
	}
	for _, st := range statuses {
		out.Deliveries.ByStatus[st] = s.ByStatus[st]
		out.Deliveries.Last24h.ByStatus[st] = s.RecentByStatus[st]
	}
	if !s.LastReceivedAt.IsZero() {
		t := s.LastReceivedAt.UTC()
		out.Deliveries.LastReceivedAt = &t
	}
	return out, nil
}

// handleListEvents answers GET /api/webhook-logs.
func (h *handler) handleListEvents(c *fiber.Ctx) error {
	f, err := logFilter(c, true)
	if err != nil {
		return err
	}
	items, next, err := h.db.FindEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(Page[*store.Event]{Items: nonNil(items), NextCursor: pageCursor(next)})
}

// logFilter reads the log list's filters (and, when paged, limit and
// cursor) from the query.
func logFilter(c *fiber.Ctx, paged bool) (store.LogFilter, error) {
	names := []string{"event", "status", "endpoint", "client_id", "since", "until", "test"}
	if paged {
		names = append(names, "limit", "cursor")
	}
	p, err := queryParams(c, names...)
	if err != nil {
		return store.LogFilter{}, err
	}
	f := store.LogFilter{Event: p["event"], Endpoint: p["endpoint"], ClientID: p["client_id"], Cursor: p["cursor"]}
	if f.Status, err = p.oneOf("status", statuses...); err != nil {
		return f, err
	}
	if f.Since, err = p.time("since"); err != nil {
		return f, err
	}
	if f.Until, err = p.time("until"); err != nil {
		return f, err
	}
	// The log lists send-test's entries, marked "test": true; test=false
	// leaves them out.
	test, err := p.bool("test")
	if err != nil {
		return f, err
	}
	f.ExcludeTest = test != nil && !*test
	if paged {
		f.Limit, err = p.limit()
	}
	return f, err
}

// handleGetEvent answers GET /api/webhook-logs/{id}.
func (h *handler) handleGetEvent(c *fiber.Ctx) error {
	id, err := logID(c)
	if err != nil {
		return err
	}
	if _, err := queryParams(c); err != nil {
		return err
	}
	e, err := findLogEntry(c.UserContext(), h.db, id)
	if err != nil {
		return err
	}
	return c.JSON(e)
}

// findLogEntry returns log entry id with its body. Returns store.ErrNotFound
// if the entry does not exist.
func findLogEntry(ctx context.Context, db *store.DB, id uint64) (*LogEntry, error) {
	ev, err := db.FindEventByID(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &LogEntry{Event: *ev}
	if len(e.StatusHistory) == 0 {
		// Entries stored before status histories began.
		e.StatusHistory = []store.StatusChange{{At: ev.ReceivedAt, Status: ev.Status, By: "delivery"}}
	}
	p, err := db.FindPayload(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case !utf8.Valid(p.Body):
		// encoding/json passes invalid UTF-8 through a RawMessage, which
		// would make the whole answer invalid JSON (SPEC §4).
		e.PayloadBase64 = p.Body
	case json.Valid(p.Body):
		e.Payload = p.Body
	default:
		text := string(p.Body)
		e.PayloadText = &text
	}
	return e, nil
}

// handleReplayEvent answers POST /api/webhook-logs/{id}/replay.
func (h *handler) handleReplayEvent(c *fiber.Ctx) error {
	id, err := logID(c)
	if err != nil {
		return err
	}
	if _, err := queryParams(c); err != nil {
		return err
	}
	a, err := replay(c.UserContext(), h.recv, id)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// replay processes log entry id again. Every outcome is a 200 answer whose
// status says what became of the entry, including "rejected" when it still
// does not verify: on the local API a 401 always means the token. Returns
// store.ErrNotFound for an unknown entry, and a conflict when no payload is
// kept or its endpoint is no longer configured.
func replay(ctx context.Context, r *intake.Receiver, id uint64) (*ReplayAnswer, error) {
	a, err := r.Replay(ctx, id)
	if errors.Is(err, intake.ErrUnknownEndpoint) {
		return nil, fiber.NewError(fiber.StatusConflict, err.Error())
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// handleReplayEvents answers POST /api/webhook-logs/replay?status=….
func (h *handler) handleReplayEvents(c *fiber.Ctx) error {
	p, err := queryParams(c, "status")
	if err != nil {
		return err
	}
	status, err := p.oneOf("status", store.StatusFailed, store.StatusRejected)
	if err != nil {
		return err
	} else if status == "" {
		return badRequest("invalid status: required, failed or rejected")
	}
	s, err := replayAll(c.UserContext(), h.db, h.recv, status)
	if err != nil {
		return err
	}
	return c.JSON(s)
}

// replayAll replays every entry with status, oldest first so that a
// customer's updates apply in arrival order. It collects the ids before
// replaying, since each replay moves its entry out of the status index.
func replayAll(ctx context.Context, db *store.DB, r *intake.Receiver, status string) (*ReplaySummary, error) {
	var ids []uint64
	skipped := 0
	f := store.LogFilter{Status: status, Limit: store.MaxLimit}
	for {
		page, next, err := db.FindEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if ev.ReplayedDuplicate() {
				// Its event was processed under another entry: a
				// replay would only say duplicate again.
				skipped++
				continue
			}
			ids = append(ids, ev.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(ids)
	s := &ReplaySummary{ByStatus: map[string]int{}, Skipped: skipped}
	for _, id := range ids {
		a, err := r.Replay(ctx, id)
		switch {
		case errors.Is(err, store.ErrConflict), errors.Is(err, intake.ErrUnknownEndpoint), errors.Is(err, store.ErrNotFound):
			s.Skipped++ // no payload kept, endpoint gone, or pruned meanwhile
		case err != nil:
			return nil, err
		default:
			s.Replayed++
			s.ByStatus[a.Status]++
		}
	}
	return s, nil
}

// handleListCustomers answers GET /api/customers.
func (h *handler) handleListCustomers(c *fiber.Ctx) error {
	p, err := queryParams(c, "q", "role", "pricing_code", "active", "test", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.CustomerFilter{Q: p["q"], Role: p["role"], Cursor: p["cursor"]}
	if f.Test, err = p.flag("test"); err != nil {
		return err
	}
	if f.PricingCode, err = p.oneOf("pricing_code", "A", "B", "C"); err != nil {
		return err
	}
	if f.Active, err = p.bool("active"); err != nil {
		return err
	}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	items, next, err := h.db.FindCustomers(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(Page[*store.Customer]{Items: nonNil(items), NextCursor: pageCursor(next)})
}

// handleGetCustomer answers GET /api/customers/{id}.
func (h *handler) handleGetCustomer(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := queryParams(c); err != nil {
		return err
	}
	cust, err := h.db.FindCustomerByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

// handleCustomerHistory answers GET /api/customers/{id}/history.
func (h *handler) handleCustomerHistory(c *fiber.Ctx) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := queryParams(c, "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.HistoryFilter{CustomerID: id, Cursor: p["cursor"]}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	items, next, err := h.db.FindHistory(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(Page[*store.HistoryEntry]{Items: nonNil(items), NextCursor: pageCursor(next)})
}

// handleListChanges answers GET /api/changes: history across customers.
func (h *handler) handleListChanges(c *fiber.Ctx) error {
	p, err := queryParams(c, "field", "since", "test", "limit", "cursor")
	if err != nil {
		return err
	}
	f := store.HistoryFilter{Cursor: p["cursor"]}
	// Changes of send-test's customers only when asked, as /api/customers.
	if f.Test, err = p.flag("test"); err != nil {
		return err
	}
	if f.Field, err = p.oneOf("field", store.ChangeFields()...); err != nil {
		return err
	}
	if f.Since, err = p.time("since"); err != nil {
		return err
	}
	if f.Limit, err = p.limit(); err != nil {
		return err
	}
	items, next, err := h.db.FindHistory(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(Page[*store.HistoryEntry]{Items: nonNil(items), NextCursor: pageCursor(next)})
}

// handleBackup answers GET /api/backup with a consistent copy of the
// database file. The snapshot's read transaction is written out by
// fasthttp's stream writer after this handler returns, and closed when the
// copy ends or the client goes away (fasthttp closes the stream then).
func (h *handler) handleBackup(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	f, size, err := h.db.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="robaws-edge.db"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			h.logger.Warn("backup not completed", "error", err)
			return
		}
		if err := w.Flush(); err != nil {
			h.logger.Warn("backup not completed", "error", err)
		}
	})
	// SetBodyStreamWriter announces a chunked body; the size is known.
	c.Response().Header.SetContentLength(int(size))
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
