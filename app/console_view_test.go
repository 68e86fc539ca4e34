package app

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestTemplateViews executes every template with its typed view, filled so
// that the branches the pages' tests do not reach run too (a sync running
// and one failed, Robaws credentials, a destination with dead items): a
// field a template misspells fails here. Every template must have a view.
func TestTemplateViews(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	s, n, id, age := "text", 3, uint64(7), int64(4)
	ev := &store.LogEntry{ID: 7, ReceivedAt: now, Endpoint: "customers", Event: "client.updated", ClientID: "C-1", Status: store.StatusRejected,
		Error: "signature mismatch", Deliveries: 2, SignatureTimestamp: now.Unix(), SecretID: "config:customers#1", Test: true,
		StatusHistory: []store.StatusChange{{At: now, Status: store.StatusRejected, By: "delivery"}},
		Signature:     &store.SignatureSummary{Timestamp: &now, AgeSeconds: &age, V1Count: 1}}
	cust := &store.Customer{ID: "C-1", Name: "Acme", Email: &s, Role: &s, PricingCode: &s, Address: store.Address{City: &s}, Version: now, UpdatedAt: now}
	hist := []*store.HistoryEntry{{CustomerID: "C-1", At: now, LogID: &id, Source: "webhook", Event: "client.updated",
		Changes: map[string]store.Change{"role": {From: nil, To: "BROKER"}, "is_active": {From: true, To: false}}}}
	table := eventTable{Events: []*store.LogEntry{ev}, Stream: "/deliveries/stream", Max: 10, Empty: "none"}
	fwd := forward.Status{Name: "office", Kind: "http", Stream: "deliveries", Target: "http://x", Status: "retrying", Pending: 2,
		OldestPendingAt: &now, Dead: 1, LastSuccessAt: &now, LastError: &s, NextAttemptAt: &now, RetryingSince: &now}
	running := robaws.SyncProgress{Running: true, Fetched: 5, Total: 10, StartedAt: &now}
	failed := robaws.SyncProgress{Fetched: 5, Errors: 1, StartedAt: &now, FinishedAt: &now, Since: &now, Error: "robaws: 401"}
	views := []pageView{
		errorView{Code: 404, Message: "gone"},
		errorView{Code: 401, Message: "log in"},
		loginView{Error: "wrong"},
		overviewView{Health: Health{Status: "degraded", Problems: []Problem{{Code: ProblemSilent, Message: "quiet"}}, LastDeliveryAt: &now,
			Tunnel:   HealthTunnel{Provider: "ngrok", Status: TunnelOnline, PublicURL: &s, Error: &s},
			Receiver: HealthReceiver{Listen: &s}, Robaws: HealthRobaws{Configured: true, DailyRemaining: &n}},
			Stats:    &Stats{Deliveries: DeliveryStats{Last24h: RecentStats{ByStatus: map[string]int64{"processed": 1}}}},
			Statuses: statuses, Forward: []forward.Status{fwd}, Latest: table},
		deliveriesView{Filter: store.LogFilter{Status: "failed"}, Since: "2026-11-01", Test: testExclude, Statuses: statuses,
			Endpoints: []*intake.Endpoint{{Name: "customers"}}, Table: table, Next: "/deliveries?cursor=x", Notice: "done"},
		deliveryView{E: &LogEntryDetail{LogEntry: *ev}, Payload: "{}", Replayed: "Replayed"},
		deliveryView{E: &LogEntryDetail{LogEntry: *ev}, Binary: 3},
		customersView{Customers: []*store.Customer{cust}, Filter: store.CustomerFilter{Q: "acme"}, PricingCodes: pricingCodes, Next: "/customers?cursor=x", Total: 1},
		customerView{C: cust, History: hist, MoreHistory: true, Deliveries: table, AllDeliveries: "/deliveries?client_id=C-1", Raw: "{}"},
		changesView{Changes: hist, Field: "role", Since: "2026-11-01", Test: true, Fields: store.ChangeFields(), Next: "/changes?cursor=x", WeekAgo: "2026-11-23"},
		webhooksView{Webhooks: []*Webhook{{ID: "1", Endpoint: "customers", WebhookID: &s, URL: &s, Active: true, Source: SourceRegistered, AddedBy: &s, CreatedAt: &now, ExpiresAt: &now}},
			Endpoints: []*intake.Endpoint{{Name: "customers"}}, Active: map[string]int{"customers": 1}, CanRegister: true, PublicURL: "https://x",
			HaveRejected: true, Error: "refused", Notice: "added"},
		syncView{Configured: true, P: &running, Percent: 50},
		syncView{Configured: true, P: &failed, Error: "running already"},
		syncView{},
		forwardListView{Items: []forward.Status{fwd}, Notice: "paused"},
		forwardDestView{S: fwd, Attempts: []forward.Attempt{{At: now, ItemID: "i", LogID: &id, StatusCode: 500, Error: &s, ResponseExcerpt: "x"}},
			Dead: []DeadItem{{ItemID: "i", LogID: &id, DeadAt: now, Attempts: 3, LastStatusCode: 400, LastError: "no"}}, Notice: "ok", Error: "bad"},
	}
	pages := parsePages()
	done := map[string]bool{}
	for _, v := range views {
		name := v.template()
		var buf bytes.Buffer
		if err := pages[name].ExecuteTemplate(&buf, "layout", layoutView{Page: name, CSRF: "token", Token: true, D: v}); err != nil {
			t.Errorf("%s with %T: %v", name, v, err)
		}
		done[name] = true
	}
	for name := range pages {
		if !done[name] {
			t.Errorf("template %s has no view in this test", name)
		}
	}

	// What the views are for: a misspelt field is an error, not an empty
	// string.
	bad := template.Must(template.New("bad").Parse(`{{.D.Heath.Status}}`))
	err := bad.Execute(&bytes.Buffer{}, layoutView{D: overviewView{}})
	if err == nil || !strings.Contains(err.Error(), "Heath") {
		t.Fatalf("a misspelt field: %v, want an error naming it", err)
	}
}
