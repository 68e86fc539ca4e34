package app_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// testBadge is the mark of send-test's data on the console's pages.
const testBadge = `<span class="tag test"`

// TestConsoleTestData: send-test's deliveries carry a test badge on the
// deliveries pages, which list them unless "Test data: left out" is chosen
// (its stream too); /customers and /changes leave TEST- customers out
// unless "included", like /api/customers?test=true, and mark them.
func TestConsoleTestData(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	now := time.Now().Unix()
	body := clientBody("ev-send-test-1", "client.updated", map[string]any{"id": "TEST-1", "name": "Test customer TEST-1"})
	testID := post(t, fx.pub, "POST", customersPath, body, intake.Sign(testSecret, now, body)).LogID
	if testID == 0 {
		t.Fatal("test delivery not stored")
	}
	get := func(path string) string {
		t.Helper()
		resp, b := page(t, fx.local, "GET", path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		return b
	}
	row := func(b string, id uint64) string {
		i := strings.Index(b, `<tr id="ev-`+itoa(id)+`">`)
		if i < 0 {
			return ""
		}
		return b[i : i+strings.Index(b[i:], "</tr>")]
	}

	// Deliveries: listed by default, badged; the real one is not.
	b := get("/deliveries")
	if r := row(b, testID); !strings.Contains(r, testBadge) {
		t.Errorf("/deliveries row of the test delivery lacks the badge:\n%s", r)
	}
	if r := row(b, fx.processed); r == "" || strings.Contains(r, testBadge) {
		t.Errorf("/deliveries row of a real delivery: %q, want it listed without the badge", r)
	}
	if !strings.Contains(b, `<select name="test">`) {
		t.Error("/deliveries has no test data filter")
	}
	b = get("/deliveries?test=exclude")
	if row(b, testID) != "" || row(b, fx.processed) == "" {
		t.Errorf("/deliveries?test=exclude lists the test delivery or lacks the real one")
	}
	if !strings.Contains(b, `data-stream="/deliveries/stream?test=false"`) || !strings.Contains(b, `<option value="exclude" selected>`) {
		t.Errorf("/deliveries?test=exclude: its live stream or form does not keep the filter")
	}
	if b := get("/deliveries/" + itoa(testID)); !strings.Contains(b, testBadge) {
		t.Error("the test delivery's page lacks the badge")
	}
	if b := get("/deliveries/" + itoa(fx.processed)); strings.Contains(b, testBadge) {
		t.Error("a real delivery's page shows the test badge")
	}

	// Customers and changes: left out unless included, then badged.
	for _, path := range []string{"/customers", "/changes"} {
		b := get(path)
		if strings.Contains(b, "/customers/TEST-1") || !strings.Contains(b, "/customers/"+fx.customerID) {
			t.Errorf("%s lists TEST-1 (or lacks %s) by default", path, fx.customerID)
		}
		b = get(path + "?test=include")
		if !strings.Contains(b, "/customers/TEST-1") || !strings.Contains(b, testBadge) || !strings.Contains(b, `<option value="include" selected>`) {
			t.Errorf("%s?test=include: want TEST-1 listed with the badge and the filter kept", path)
		}
	}
	if b := get("/customers/TEST-1"); !strings.Contains(b, testBadge) {
		t.Error("TEST-1's page lacks the badge")
	}

	// The JSON API agrees: /api/changes like /api/customers, and the log
	// leaves test data out on request.
	_, data := do(t, fx.local, "GET", "/api/changes", "", nil)
	if p := decode[app.Page[*store.HistoryEntry]](t, data); len(p.Items) == 0 || hasCustomer(p.Items, "TEST-1") {
		t.Errorf("/api/changes = %s, want the real changes only", data)
	}
	_, data = do(t, fx.local, "GET", "/api/changes?test=true", "", nil)
	if p := decode[app.Page[*store.HistoryEntry]](t, data); !hasCustomer(p.Items, "TEST-1") {
		t.Errorf("/api/changes?test=true = %s, want TEST-1's change", data)
	}
	_, data = do(t, fx.local, "GET", "/api/webhook-logs?test=false", "", nil)
	for _, e := range decode[app.Page[*store.LogEntry]](t, data).Items {
		if e.Test {
			t.Errorf("/api/webhook-logs?test=false lists test entry %d", e.ID)
		}
	}
}

func hasCustomer(items []*store.HistoryEntry, id string) bool {
	for _, e := range items {
		if e.CustomerID == id {
			return true
		}
	}
	return false
}

// TestConsoleSmallTruths: a rejected signature days old says how old in
// days after its date, not in seconds; the Webhooks page tells a pasted
// secret from a config one.
func TestConsoleSmallTruths(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	body := clientBody("ev-old-sig", "client.updated", map[string]any{"id": fx.customerID, "name": "Old"})
	old := time.Now().Add(-1117 * 24 * time.Hour).Unix()
	post(t, fx.pub, "POST", customersPath, body, intake.Sign(testSecret, old, body))
	_, b := page(t, fx.local, "GET", "/deliveries/"+itoa(newestID(t, fx)), nil)
	if !strings.Contains(b, "1117 days before it arrived") || strings.Contains(b, " s old") {
		t.Errorf("old signature on the delivery page: want \"1117 days before it arrived\" after its date")
	}

	cookie, csrf := session(t, fx.local, "")
	resp, _ := page(t, fx.local, "POST", "/webhooks", url.Values{"csrf": {csrf}, "endpoint": {"customers"}, "secret": {"pasted-secret-0123456789"}}, "Cookie", cookie)
	if resp.StatusCode != 303 {
		t.Fatalf("add secret = %d, want 303", resp.StatusCode)
	}
	_, b = page(t, fx.local, "GET", "/webhooks", nil, "Cookie", cookie)
	if !strings.Contains(b, `<td class="added-by">by hand (pasted)</td>`) || !strings.Contains(b, `<td class="added-by">config file</td>`) {
		t.Errorf("/webhooks does not say who added each secret")
	}
}

// newestID is the newest log entry's id.
func newestID(t *testing.T, fx consoleFixture) uint64 {
	t.Helper()
	_, data := do(t, fx.local, "GET", "/api/webhook-logs?limit=1", "", nil)
	p := decode[app.Page[*store.LogEntry]](t, data)
	if len(p.Items) != 1 {
		t.Fatalf("no log entry: %s", data)
	}
	return p.Items[0].ID
}

// TestConsoleCustomerDeliveries: the customer page lists every delivery of
// the customer, those that changed nothing (stale, ignored) and the
// rejected one included, and no other customer's; past 20 it shows the
// newest 20 and says so.
func TestConsoleCustomerDeliveries(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	now := time.Now().Unix()
	send := func(eventID, event, id, updatedAt string) uint64 {
		t.Helper()
		body := delivery(eventID, event, id, "Acme", updatedAt)
		return post(t, fx.pub, "POST", customersPath, body, intake.Sign(testSecret, now, body)).LogID
	}
	changed := send("ev-cd-1", "client.updated", fx.customerID, "2026-11-02T10:00:00Z")
	stale := send("ev-cd-2", "client.updated", fx.customerID, "2026-11-01T10:00:00Z")
	ignored := send("ev-cd-3", "client.deleted", fx.customerID, "")
	other := send("ev-cd-4", "client.created", "C-43", "")
	for id, want := range map[uint64]string{stale: store.StatusStale, ignored: store.StatusIgnored} {
		if got := entry(t, fx.db, id).Status; got != want {
			t.Fatalf("entry %d is %s, want %s", id, got, want)
		}
	}
	_, b := page(t, fx.local, "GET", "/customers/"+fx.customerID, nil)
	for _, id := range []uint64{fx.processed, fx.reject, changed, stale, ignored} {
		if !strings.Contains(b, `<tr id="ev-`+itoa(id)+`">`) {
			t.Errorf("customer page lacks delivery %d", id)
		}
	}
	if strings.Contains(b, `<tr id="ev-`+itoa(other)+`">`) || strings.Contains(b, "are shown") {
		t.Errorf("customer page lists another customer's delivery, or says it shows only some")
	}
	for i := range 20 {
		send(fmt.Sprint("ev-cd-more-", i), "client.deleted", fx.customerID, "")
	}
	_, b = page(t, fx.local, "GET", "/customers/"+fx.customerID, nil)
	if n := strings.Count(b, `<tr id="ev-`); n != 20 || !strings.Contains(b, "The newest 20 are shown.") || !strings.Contains(b, `href="/deliveries?client_id=C-42"`) {
		t.Errorf("customer page with 25 deliveries: %d rows, want the newest 20, a note and the link", n)
	}
}

// TestConsoleNextPageKeepsFilters: the customers and changes pages' next
// link carries the form's filters and the cursor, and leads to the rest.
func TestConsoleNextPageKeepsFilters(t *testing.T) {
	fx := newConsoleFixture(t, app.LocalConfig{})
	role, code := "BROKER", "B"
	var batch []*store.Customer
	for i := range 55 {
		batch = append(batch, &store.Customer{ID: fmt.Sprintf("TEST-N%02d", i), Name: fmt.Sprintf("Next %02d", i), Role: &role, PricingCode: &code,
			Currency: "EUR", IsActive: true, Version: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	if _, _, _, err := fx.db.ApplyCustomers(context.Background(), batch, store.SourceSync); err != nil {
		t.Fatal(err)
	}
	next := func(b string) string {
		_, rest, ok := strings.Cut(b, `<p class="pager">`)
		if !ok {
			return ""
		}
		rest, _, _ = strings.Cut(rest, "</p>")
		_, href, ok := strings.Cut(rest, `<a href="`)
		if !ok {
			return ""
		}
		href, _, _ = strings.Cut(href, `"`)
		return html.UnescapeString(href)
	}
	for _, tc := range []struct{ first, path, rest string }{
		{"/customers?q=Next&role=BROKER&pricing_code=B&test=include", "/customers", "/customers/TEST-N54"},
		{"/changes?field=role&since=2025-01-01&test=include", "/changes", "/customers/TEST-N00"},
	} {
		_, b := page(t, fx.local, "GET", tc.first, nil)
		link := next(b)
		u, err := url.Parse(link)
		if err != nil || u.Path != tc.path || u.Query().Get("cursor") == "" {
			t.Fatalf("%s: next link %q, want %s with a cursor", tc.first, link, tc.path)
		}
		want, _ := url.Parse(tc.first)
		q := u.Query()
		q.Del("cursor")
		if q.Encode() != want.Query().Encode() {
			t.Errorf("%s: next link %q keeps %q, want %q", tc.first, link, q.Encode(), want.Query().Encode())
		}
		resp, b := page(t, fx.local, "GET", link, nil)
		if resp.StatusCode != 200 || !strings.Contains(b, tc.rest) || next(b) != "" {
			t.Errorf("GET %s = %d, want the last page with %s", link, resp.StatusCode, tc.rest)
		}
	}
}
