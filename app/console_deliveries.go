package app

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// handleDeliveries answers GET /deliveries: the log with its filters as a
// form, paged; new entries arrive over the stream on the first page.
func (cs *console) handleDeliveries(c *fiber.Ctx) error {
	f := store.LogFilter{Event: c.Query("event"), Endpoint: c.Query("endpoint"), ClientID: strings.TrimSpace(c.Query("client_id")),
		Cursor: c.Query("cursor"), Limit: pageSize, ExcludeTest: c.Query("test") == testExclude}
	var err error
	if f.Status = c.Query("status"); f.Status != "" && !slices.Contains(statuses, f.Status) {
		return badRequest("invalid status: want %s", orList(statuses))
	}
	if f.Since, err = formTime("since", c.Query("since"), false); err != nil {
		return err
	}
	if f.Until, err = formTime("until", c.Query("until"), true); err != nil {
		return err
	}
	items, next, err := cs.h.db.FindEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range []string{"status", "event", "endpoint", "client_id", "since", "until", "test"} {
		if v := c.Query(k); v != "" {
			q.Set(k, v)
		}
	}
	stream := ""
	if f.Cursor == "" {
		// The API's stream takes RFC 3339 bounds; the form's dates are
		// converted so that both filter alike.
		sq := url.Values{}
		for k, v := range map[string]string{"status": f.Status, "event": f.Event, "endpoint": f.Endpoint, "client_id": f.ClientID} {
			if v != "" {
				sq.Set(k, v)
			}
		}
		if !f.Since.IsZero() {
			sq.Set("since", f.Since.Format(time.RFC3339))
		}
		if !f.Until.IsZero() {
			sq.Set("until", f.Until.Format(time.RFC3339))
		}
		if f.ExcludeTest {
			sq.Set("test", "false")
		}
		stream = "/deliveries/stream"
		if len(sq) > 0 {
			stream += "?" + sq.Encode()
		}
	}
	nextURL := ""
	if next != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", next)
		nextURL = "/deliveries?" + nq.Encode()
	}
	return cs.render(c, fiber.StatusOK, "deliveries", map[string]any{
		"Events": items, "Filter": f, "Q": q, "Statuses": statuses, "Endpoints": cs.h.recv.Endpoints(),
		"Stream": stream, "Next": nextURL, "First": f.Cursor == "", "Notice": notice(c),
	})
}

// handleDelivery answers GET /deliveries/{id}: the entry, its payload
// pretty-printed and the Replay button.
func (cs *console) handleDelivery(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil || id == 0 {
		return fiber.ErrNotFound
	}
	e, err := findLogEntry(c.UserContext(), cs.h.db, id)
	if err != nil {
		return err
	}
	var payload string
	switch {
	case e.Payload != nil:
		var buf bytes.Buffer
		if json.Indent(&buf, e.Payload, "", "  ") == nil {
			payload = buf.String()
		} else {
			payload = string(e.Payload)
		}
	case e.PayloadText != nil:
		payload = *e.PayloadText
	}
	return cs.render(c, fiber.StatusOK, "delivery", map[string]any{
		"E": e, "Payload": payload, "Binary": len(e.PayloadBase64), "Kept": e.Payload != nil || e.PayloadText != nil || e.PayloadBase64 != nil,
		"Replayed": replayedNotice(c.Query("replayed")),
	})
}

// notice reads the message a replay-all left for the deliveries page.
func notice(c *fiber.Ctx) string {
	n, err := strconv.Atoi(c.Query("replayed"))
	if err != nil || c.Query("of") == "" {
		return ""
	}
	st := c.Query("of")
	if !slices.Contains(statuses, st) {
		return ""
	}
	if n == 0 {
		return "Nothing to replay: no " + st + " deliveries with a kept payload."
	}
	return "Replayed " + strconv.Itoa(n) + " " + st + " deliveries; their new status is in the list."
}

// replayedNotice is the delivery page's message after its Replay button.
func replayedNotice(status string) string {
	if !slices.Contains(statuses, status) {
		return ""
	}
	return "Replayed: the delivery is now " + status + "."
}

// handleReplay answers POST /deliveries/{id}/replay.
func (cs *console) handleReplay(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil || id == 0 {
		return fiber.ErrNotFound
	}
	a, err := replay(c.UserContext(), cs.h.recv, id)
	if err != nil {
		return err
	}
	return c.Redirect("/deliveries/"+strconv.FormatUint(id, 10)+"?replayed="+url.QueryEscape(a.Status), fiber.StatusSeeOther)
}

// handleReplayAll answers POST /deliveries/replay (status failed or
// rejected).
func (cs *console) handleReplayAll(c *fiber.Ctx) error {
	status := c.FormValue("status")
	if status != store.StatusFailed && status != store.StatusRejected {
		return badRequest("invalid status: want failed or rejected")
	}
	s, err := replayAll(c.UserContext(), cs.h.db, cs.h.recv, status)
	if err != nil {
		return err
	}
	q := url.Values{"replayed": {strconv.Itoa(s.Replayed)}, "of": {status}}
	return c.Redirect("/deliveries?"+q.Encode(), fiber.StatusSeeOther)
}
