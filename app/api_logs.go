package app

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleListLogEntries answers GET /api/webhook-logs.
func (h *handler) handleListLogEntries(c *fiber.Ctx) error {
	f, err := logFilter(c, true)
	if err != nil {
		return err
	}
	return findPage(c, f, h.db.FindLogEntries)
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

// handleGetLogEntry answers GET /api/webhook-logs/{id}.
func (h *handler) handleGetLogEntry(c *fiber.Ctx) error {
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
func findLogEntry(ctx context.Context, db *store.DB, id uint64) (*LogEntryDetail, error) {
	ev, err := db.FindLogEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &LogEntryDetail{LogEntry: *ev}
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
