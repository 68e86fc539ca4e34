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
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// deliveriesView is GET /deliveries' data.
type deliveriesView struct {
	// Filter is the list's filter; Since, Until and Test are the form's
	// own values of those fields, shown back as typed.
	Filter             store.LogFilter
	Since, Until, Test string
	Statuses           []string
	Endpoints          []*intake.Endpoint
	Table              eventTable
	// First says this is the newest page; Next is the older page's URL.
	First  bool
	Next   string
	Notice string
}

func (deliveriesView) template() string { return "deliveries" }

// deliveriesFilterKeys are the deliveries form's fields.
var deliveriesFilterKeys = []string{"status", "event", "endpoint", "client_id", "since", "until", "test"}

// handleDeliveries answers GET /deliveries: the log with its filters as a
// form, paged; new entries arrive over the stream on the first page.
func (cs *console) handleDeliveries(c *fiber.Ctx) error {
	f, err := deliveriesFilter(c)
	if err != nil {
		return err
	}
	items, next, err := cs.h.db.FindLogEntries(c.UserContext(), f)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range deliveriesFilterKeys {
		if v := c.Query(k); v != "" {
			q.Set(k, v)
		}
	}
	v := deliveriesView{Filter: f, Since: c.Query("since"), Until: c.Query("until"), Test: c.Query("test"),
		Statuses: statuses, Endpoints: cs.h.recv.Endpoints(), First: f.Cursor == "", Notice: notice(c),
		Table: eventTable{Events: items, Empty: "No delivery matches these filters."}}
	if len(q) == 0 {
		v.Table.Empty = "No deliveries yet. Robaws' deliveries appear here as they arrive; to try the whole path, run robaws-edge send-test --public."
	}
	if v.First {
		v.Table.Stream = deliveriesStream(f)
	}
	if next != "" {
		q.Set("cursor", next)
		v.Next = "/deliveries?" + q.Encode()
	}
	return cs.render(c, fiber.StatusOK, v)
}

// deliveriesFilter reads the deliveries form: dates are UTC days ("until"
// includes its day), "test=exclude" leaves send-test's entries out.
func deliveriesFilter(c *fiber.Ctx) (store.LogFilter, error) {
	f := store.LogFilter{Event: c.Query("event"), Endpoint: c.Query("endpoint"), ClientID: strings.TrimSpace(c.Query("client_id")),
		Status: c.Query("status"), Cursor: c.Query("cursor"), Limit: pageSize, ExcludeTest: c.Query("test") == testExclude}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		return f, badRequest("invalid status: want %s", orList(statuses))
	}
	var err error
	if f.Since, err = formTime("since", c.Query("since"), false); err != nil {
		return f, err
	}
	f.Until, err = formTime("until", c.Query("until"), true)
	return f, err
}

// deliveriesStream is the URL of the log stream with f's filters. The
// API's stream takes RFC 3339 bounds; the form's dates are converted so
// that both filter alike.
func deliveriesStream(f store.LogFilter) string {
	sq := formValues(map[string]string{"status": f.Status, "event": f.Event, "endpoint": f.Endpoint, "client_id": f.ClientID})
	if !f.Since.IsZero() {
		sq.Set("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		sq.Set("until", f.Until.Format(time.RFC3339))
	}
	if f.ExcludeTest {
		sq.Set("test", "false")
	}
	if len(sq) == 0 {
		return "/deliveries/stream"
	}
	return "/deliveries/stream?" + sq.Encode()
}

// deliveryView is GET /deliveries/{id}'s data.
type deliveryView struct {
	E *LogEntryDetail
	// Payload is the body as text (JSON indented); Binary is the size of a
	// body that is not text. Both are empty when no body is kept.
	Payload  string
	Binary   int
	Replayed string
}

func (deliveryView) template() string { return "delivery" }

// handleDelivery answers GET /deliveries/{id}: the entry, its payload
// pretty-printed and the Replay button.
func (cs *console) handleDelivery(c *fiber.Ctx) error {
	id, err := deliveryID(c)
	if err != nil {
		return err
	}
	e, err := findLogEntry(c.UserContext(), cs.h.db, id)
	if err != nil {
		return err
	}
	v := deliveryView{E: e, Binary: len(e.PayloadBase64), Replayed: replayedNotice(c.Query("replayed"))}
	switch {
	case e.Payload != nil:
		v.Payload = indentJSON(e.Payload)
	case e.PayloadText != nil:
		v.Payload = *e.PayloadText
	}
	return cs.render(c, fiber.StatusOK, v)
}

// deliveryID parses a delivery page's {id}: not a log entry number, no
// such page (404).
func deliveryID(c *fiber.Ctx) (uint64, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// indentJSON is b indented for people, or b as it is when it is not JSON.
func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
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
	id, err := deliveryID(c)
	if err != nil {
		return err
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
