package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestWrongSecretIsAProblem runs the binary as a new office admin would
// meet it: deliveries signed with another secret make status exit 1 naming
// deliveries_rejected and the endpoint, health degraded, the overview shows
// the problem instead of "All is well", and rejected-only traffic is
// silence. A rejected delivery whose event was processed meanwhile, once
// replayed, says duplicate in its history and is left out of the next
// bulk replay.
func TestWrongSecretIsAProblem(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	const secret, other = "truth-secret-0000001", "truth-other-secret-01"
	config, receiverAddr, adminAddr := daemonConfig(t, dir, "", secretYAML(secret)+"health: {silence_after: 2s}\n")
	startProcess(t, bin, config, adminAddr, "")
	const path = "/api/webhooks/robaws/customers"
	for i := range 5 {
		if c := deliverSigned(t, receiverAddr, path, other, clientUpdated(fmt.Sprint("wrong-", i), "W-1", "Wrong", time.Now())); c != 401 {
			t.Fatalf("delivery %d: %d, want 401", i, c)
		}
	}
	cfg := []string{"--config", config}
	var r cliResult
	waitFor(t, "status naming deliveries_rejected and silent", 20*time.Second, func() bool {
		r = runCLI(t, bin, append([]string{"status"}, cfg...)...)
		return strings.Contains(r.stdout, "deliveries_rejected: endpoint customers rejected all 5 signed deliveries") &&
			strings.Contains(r.stdout, "signature mismatch") && strings.Contains(r.stdout, "silent:")
	})
	if r.code != 1 || !strings.Contains(r.stdout, "degraded") || !strings.Contains(r.stdout, "webhooks add --endpoint customers") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	page := getPage(t, "http://"+adminAddr+"/")
	if strings.Contains(page, "All is well") || !strings.Contains(page, "deliveries_rejected") {
		t.Fatalf("the overview does not show the problem:\n%s", page)
	}

	// The event arrives twice: first with the unknown secret, then with the
	// right one; the rejected entry replayed later is a duplicate.
	ctx := context.Background()
	client := app.NewClient(adminAddr, "")
	deliverSigned(t, receiverAddr, path, other, clientUpdated("twice-1", "W-2", "Twice", time.Now()))
	if c := deliverSigned(t, receiverAddr, path, secret, clientUpdated("twice-1", "W-2", "Twice", time.Now())); c != 200 {
		t.Fatalf("right secret: %d", c)
	}
	rejected, err := client.LogEntries(ctx, store.LogFilter{Status: store.StatusRejected, ClientID: "", Limit: 10})
	if err != nil || len(rejected.Items) != 6 {
		t.Fatalf("rejected entries: %v %v", rejected, err)
	}
	twice := rejected.Items[0]
	if twice.EventID != "twice-1" {
		t.Fatalf("newest rejected entry is %s", twice.EventID)
	}
	if _, err := client.CreateWebhook(ctx, app.CreateWebhookRequest{Endpoint: "customers", Secret: other}); err != nil {
		t.Fatal(err)
	}
	if a, err := client.Replay(ctx, twice.ID); err != nil || a.Status != store.StatusDuplicate {
		t.Fatalf("replay: %+v %v, want duplicate", a, err)
	}
	e, err := client.LogEntry(ctx, twice.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := e.StatusHistory[len(e.StatusHistory)-1]
	if len(e.StatusHistory) != 2 || last.Status != store.StatusDuplicate || last.By != "replay" || e.DuplicateOf == 0 {
		t.Fatalf("status history after a duplicate replay: %+v (duplicate_of %d)", e.StatusHistory, e.DuplicateOf)
	}
	r = runCLI(t, bin, append([]string{"replay", "--status", "rejected"}, cfg...)...)
	if !strings.Contains(r.stdout, "replayed 5") || !strings.Contains(r.stdout, "1 skipped") {
		t.Fatalf("replay --status rejected: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCredentialsWithoutPublicURL: Robaws credentials but no tunnel and
// no secret: no_active_secret says why it cannot register.
func TestCredentialsWithoutPublicURL(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	config, _, adminAddr := daemonConfig(t, dir, "", `tunnel: {provider: auto, authtoken: ""}
robaws: {base_url: "http://127.0.0.1:1", api_key: truth-api-key-0001, sync_interval: 0}
`)
	startProcess(t, bin, config, adminAddr, "")
	r := runCLI(t, bin, "status", "--config", config)
	if r.code != 1 || !strings.Contains(r.stdout, "no_active_secret: endpoint customers has no secret") ||
		!strings.Contains(r.stdout, "has no public URL (no tunnel is configured): set NGROK_AUTHTOKEN") || strings.Contains(r.stdout, "truth-api-key-0001") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func getPage(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
