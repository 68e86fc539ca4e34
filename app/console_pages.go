package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// This file holds the console's GET pages. Each reads its query leniently
// (a form sends empty fields; people mistype), calls the plain functions
// the JSON API uses, and renders one template.

// overviewFeedSize is how many of the latest deliveries the overview shows.
const overviewFeedSize = 10

// pageSize is the length of a console list page.
const pageSize = 50

// The console's "Test data" filter (?test=): send-test's TEST- data is
// listed on the deliveries pages unless excluded, and left out of the
// customers and changes pages unless included, as in the JSON API.
const (
	testInclude = "include"
	testExclude = "exclude"
)

// handleOverview answers GET /: health with its problems, the tunnel, the
// last 24 hours by status and the latest deliveries (live).
func (cs *console) handleOverview(c *fiber.Ctx) error {
	ctx, h := c.UserContext(), cs.h
	now := h.cfg.Now()
	hl := health(ctx, h.db, h.recv, h.cfg, now)
	st, err := stats(ctx, h.db, h.recv, now, false)
	if err != nil {
		return err
	}
	latest, _, err := h.db.FindEvents(ctx, store.LogFilter{Limit: overviewFeedSize})
	if err != nil {
		return err
	}
	return cs.render(c, fiber.StatusOK, "overview", map[string]any{
		"Health": hl, "Stats": st, "Statuses": statuses, "Events": latest,
		"Endpoints": h.recv.Endpoints(), "Stream": "/deliveries/stream", "Max": overviewFeedSize,
		"Forward": h.cfg.Forward.Statuses(),
	})
}

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

// handleCustomers answers GET /customers: search by q, role and pricing
// code, sorted by name.
func (cs *console) handleCustomers(c *fiber.Ctx) error {
	f := store.CustomerFilter{Q: strings.TrimSpace(c.Query("q")), Role: strings.TrimSpace(c.Query("role")), Cursor: c.Query("cursor"), Limit: pageSize,
		Test: c.Query("test") == testInclude}
	if f.PricingCode = c.Query("pricing_code"); f.PricingCode != "" && !slices.Contains([]string{"A", "B", "C"}, f.PricingCode) {
		return badRequest("invalid pricing_code: want A, B or C")
	}
	items, next, err := cs.h.db.FindCustomers(c.UserContext(), f)
	if err != nil {
		return err
	}
	nextURL := ""
	if next != "" {
		q := url.Values{"cursor": {next}}
		for k, v := range map[string]string{"q": f.Q, "role": f.Role, "pricing_code": f.PricingCode} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if f.Test {
			q.Set("test", testInclude)
		}
		nextURL = "/customers?" + q.Encode()
	}
	return cs.render(c, fiber.StatusOK, "customers", map[string]any{
		"Customers": items, "Filter": f, "Next": nextURL, "Total": cs.h.db.CustomerCount(),
	})
}

// customerHistorySize and customerDeliveriesSize bound the customer page.
const (
	customerHistorySize    = 100
	customerDeliveriesSize = 20
)

// handleCustomer answers GET /customers/{id}: the record, its history as a
// timeline and its deliveries.
func (cs *console) handleCustomer(c *fiber.Ctx) error {
	id, err := url.PathUnescape(c.Params("id"))
	if err != nil || id == "" {
		return fiber.ErrNotFound
	}
	ctx := c.UserContext()
	cust, err := cs.h.db.FindCustomerByID(ctx, id)
	if err != nil {
		return err
	}
	hist, moreHist, err := cs.h.db.FindHistory(ctx, store.HistoryFilter{CustomerID: id, Limit: customerHistorySize})
	if err != nil {
		return err
	}
	// The deliveries its history names: the store has no client index yet,
	// and a client_id filter scans the log (~230 ms over 200,000 entries),
	// so the full list is one link away on the Deliveries page.
	var evs []*store.Event
	seen := map[uint64]bool{}
	for _, e := range hist {
		if e.LogID == nil || seen[*e.LogID] || len(evs) == customerDeliveriesSize {
			continue
		}
		seen[*e.LogID] = true
		ev, err := cs.h.db.FindEventByID(ctx, *e.LogID)
		if errors.Is(err, store.ErrNotFound) {
			continue // pruned
		} else if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	var raw string
	if len(cust.Raw) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, cust.Raw, "", "  ") == nil {
			raw = buf.String()
		}
	}
	return cs.render(c, fiber.StatusOK, "customer", map[string]any{
		"C": cust, "History": hist, "MoreHistory": moreHist != "", "Events": evs,
		"Raw": raw, "AllDeliveries": "/deliveries?" + url.Values{"client_id": {id}}.Encode(),
	})
}

// handleChanges answers GET /changes: history across customers, by field
// and date.
func (cs *console) handleChanges(c *fiber.Ctx) error {
	f := store.HistoryFilter{Field: c.Query("field"), Cursor: c.Query("cursor"), Limit: pageSize, Test: c.Query("test") == testInclude}
	fields := store.ChangeFields()
	if f.Field != "" && !slices.Contains(fields, f.Field) {
		return badRequest("invalid field: want one of %s", strings.Join(fields, ", "))
	}
	var err error
	if f.Since, err = formTime("since", c.Query("since"), false); err != nil {
		return err
	}
	items, next, err := cs.h.db.FindHistory(c.UserContext(), f)
	if err != nil {
		return err
	}
	nextURL := ""
	if next != "" {
		q := url.Values{"cursor": {next}}
		if f.Field != "" {
			q.Set("field", f.Field)
		}
		if s := c.Query("since"); s != "" {
			q.Set("since", s)
		}
		if f.Test {
			q.Set("test", testInclude)
		}
		nextURL = "/changes?" + q.Encode()
	}
	return cs.render(c, fiber.StatusOK, "changes", map[string]any{
		"Changes": items, "Field": f.Field, "Since": c.Query("since"), "Fields": fields, "Next": nextURL, "Test": f.Test,
		"WeekAgo": cs.h.cfg.Now().AddDate(0, 0, -7).UTC().Format(time.DateOnly),
	})
}

// handleWebhooks answers GET /webhooks: registrations and config secrets
// (hints only) with the forms to add a secret, register and deactivate.
func (cs *console) handleWebhooks(c *fiber.Ctx) error {
	return cs.renderWebhooks(c, fiber.StatusOK, "", webhookNotices[c.Query("notice")])
}

// webhookNotices are the messages a webhooks action redirects with.
var webhookNotices = map[string]string{
	"added":       "Secret added: deliveries signed with it are accepted from now on. Replay the rejected ones on the Deliveries page.",
	"registered":  "Registered with Robaws: its secret is stored and in use.",
	"deactivated": "Deactivated: deliveries signed with that secret are refused from now on.",
}

// renderWebhooks renders the webhooks page with an error or a notice.
func (cs *console) renderWebhooks(c *fiber.Ctx, code int, errMsg, noticeMsg string) error {
	ctx, h := c.UserContext(), cs.h
	list, err := listWebhooks(ctx, h.db, h.recv)
	if err != nil {
		return err
	}
	active := map[string]int{}
	for _, ep := range h.recv.Endpoints() {
		active[ep.Name] = len(h.recv.ActiveSecrets(ep, h.cfg.Now()))
	}
	rejected, _, err := h.db.FindEvents(ctx, store.LogFilter{Status: store.StatusRejected, Limit: 1})
	if err != nil {
		return err
	}
	t := h.cfg.Tunnel()
	return cs.render(c, code, "webhooks", map[string]any{
		"Webhooks": list, "Endpoints": h.recv.Endpoints(), "Active": active, "CanRegister": h.cfg.Registrar != nil,
		"PublicURL": t.PublicURL, "Error": errMsg, "Notice": noticeMsg, "HaveRejected": len(rejected) > 0,
	})
}

// handleSync answers GET /sync: the running or last sync; start one.
func (cs *console) handleSync(c *fiber.Ctx) error {
	return cs.renderSync(c, fiber.StatusOK, "")
}

func (cs *console) renderSync(c *fiber.Ctx, code int, errMsg string) error {
	data := map[string]any{"Configured": cs.h.cfg.Syncer != nil, "Error": errMsg}
	if s := cs.h.cfg.Syncer; s != nil {
		p := s.Progress()
		data["P"] = p
		if p.Total > 0 {
			data["Percent"] = min(100, p.Fetched*100/p.Total)
		}
	}
	return cs.render(c, code, "sync", data)
}

// formTime reads a date from a form: YYYY-MM-DD (UTC midnight; with
// endOfDay the midnight after, so that "until" includes the day), a
// datetime-local value (UTC), or RFC 3339. "" is the zero time.
func formTime(name, s string, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("invalid %s: want a date such as 2026-11-30", name)
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
