package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestRobawsCLI runs the built binary against a fake Robaws: register
// (refused a second time without --force), send-test, sync with its
// summary, delete --remote, and checks that no secret is ever printed.
func TestRobawsCLI(t *testing.T) {
	bin := buildBinary(t)
	robaws := newFakeRobaws(t)
	robaws.clients = []map[string]any{
		{"id": "218", "name": "Transports Dupont SA", "tel": "02 555 12 12", "updatedAt": "2026-11-30T07:45:00Z"},
		{"id": "3473", "name": "222 CARS", "gsm": "0471 12 34 56", "updatedAt": "2026-11-29T14:03:10.500Z"},
		{"id": "4102", "name": "Van den Berg Logistics BV"},
	}
	dir := t.TempDir()
	config, _, adminAddr := daemonConfig(t, dir, "", fmt.Sprintf("tunnel: {provider: none}\nrobaws: {base_url: %q, username: api-user, password: api-password-123, sync_interval: 0}\n", robaws.srv.URL))
	stop := startProcess(t, bin, config, adminAddr, "").Stop
	defer stop()

	var printed strings.Builder
	cli := func(wantCode int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, bin, append(args, "--config", config)...)
		printed.WriteString(r.stdout + r.stderr)
		if r.code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, wantCode, r.stdout, r.stderr)
		}
		return r
	}
	const url = "https://office-edge.example/api/webhooks/robaws/customers"

	if r := cli(1, "webhooks", "register", "--endpoint", "customers"); !strings.Contains(r.stderr, "no public URL") || !strings.Contains(r.stderr, "--url") || strings.Contains(r.stderr, "pass url") {
		t.Errorf("register without tunnel or --url: %q, want the --url flag named", r.stderr)
	}
	if r := cli(0, "webhooks", "register", "--endpoint", "customers", "--url", url); !strings.Contains(r.stdout, "wh-1") || !strings.Contains(r.stdout, "secret …") {
		t.Errorf("register: %q", r.stdout)
	}
	if r := cli(1, "webhooks", "register", "--endpoint", "customers", "--url", url); !strings.Contains(r.stderr, "force") {
		t.Errorf("second register without --force: %q", r.stderr)
	}
	cli(0, "webhooks", "register", "--endpoint", "customers", "--url", url, "--force")
	if r := cli(2, "webhooks", "register", "--endpoint", "nope", "--url", url); !strings.Contains(r.stderr, "endpoint") {
		t.Errorf("unknown endpoint: %q", r.stderr)
	}

	// send-test signs with a temporary secret (the CLI never sees stored
	// ones) and the customer shows up.
	if r := cli(0, "send-test"); !strings.Contains(r.stdout, "processed") {
		t.Errorf("send-test: %q", r.stdout)
	}
	if r := cli(0, "customers", "show", "TEST-1"); !strings.Contains(r.stdout, "TEST-1") {
		t.Errorf("customers show TEST-1: %q", r.stdout)
	}
	// Its temporary secret is gone, and its customer is test data.
	if r := cli(0, "webhooks", "list"); strings.Contains(r.stdout, "send-test") {
		t.Errorf("send-test left its secret behind:\n%s", r.stdout)
	}
	if r := cli(0, "customers"); strings.Contains(r.stdout, "TEST-1") {
		t.Errorf("customers lists send-test's customer:\n%s", r.stdout)
	}
	if r := cli(0, "send-test", "--count", "1000", "--concurrency", "32"); !strings.Contains(r.stdout, "deliveries/s") || !strings.Contains(r.stdout, "processed") {
		t.Errorf("send-test --count 1000: %q", r.stdout)
	} else {
		t.Logf("send-test --count 1000 --concurrency 32: %s", strings.TrimSpace(r.stdout))
	}
	if r := cli(2, "send-test", "--client-id", "3473"); !strings.Contains(r.stderr, "TEST-") {
		t.Errorf("send-test with a real client id: %q", r.stderr)
	}

	if r := cli(0, "sync", "customers"); !strings.Contains(r.stdout, "fetched 3 of 3, applied 3") {
		t.Errorf("sync: %q / %q", r.stdout, r.stderr)
	}
	if r := cli(0, "customers", "show", "218"); !strings.Contains(r.stdout, "+3225551212") {
		t.Errorf("synced customer: %q", r.stdout)
	}

	// Another integration spent the day: the next answer says 500 are left,
	// below the default reserve of 1000. That sync still finishes (one
	// page); the one after stops before spending anything, exits 1 naming
	// the daily budget, and status reports it.
	robaws.mu.Lock()
	robaws.dailyRemaining = 500
	robaws.mu.Unlock()
	cli(0, "sync", "customers")
	robaws.mu.Lock()
	before := len(robaws.authSeen)
	robaws.mu.Unlock()
	// A failed sync says so once, never "sync finished" first.
	if r := cli(1, "sync", "customers"); !strings.Contains(r.stderr, "daily") || strings.Contains(r.stdout+r.stderr, "finished") || strings.Count(r.stderr, "sync failed") != 1 {
		t.Errorf("sync below the reserve: %q / %q, want the failure and the daily budget named once", r.stdout, r.stderr)
	}
	robaws.mu.Lock()
	spent := len(robaws.authSeen) - before
	robaws.dailyRemaining = 0
	robaws.mu.Unlock()
	if spent != 0 {
		t.Errorf("the sync below the reserve sent %d requests, want 0", spent)
	}
	if r := cli(1, "status"); !strings.Contains(r.stdout, "500 of 10000 requests left today") || !strings.Contains(r.stdout, "robaws_budget_low") {
		t.Errorf("status after the budget ran low:\n%s", r.stdout)
	}

	list := cli(0, "webhooks", "list").stdout
	id := ""
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "wh-1") {
			id = strings.Fields(line)[0]
			// Robaws gave this secret: not one pasted by hand.
			if !strings.Contains(line, "registered  robaws (registration)") {
				t.Errorf("registration listed as %q, want added by robaws", line)
			}
		}
	}
	if id == "" {
		t.Fatalf("wh-1 not listed:\n%s", list)
	}
	cli(0, "webhooks", "delete", id, "--remote")
	robaws.mu.Lock()
	deleted := fmt.Sprint(robaws.deleted)
	robaws.mu.Unlock()
	if deleted != "[wh-1]" {
		t.Errorf("Robaws saw deletes %s, want [wh-1]", deleted)
	}
	for _, secret := range []string{"robaws-secret-1-abcdef", "robaws-secret-2-abcdef", "api-password-123"} {
		if strings.Contains(printed.String(), secret) {
			t.Fatalf("the CLI printed %q:\n%s", secret, printed.String())
		}
	}
}
