package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/service"
)

// TestNoNgrokAdviceWithProviderNone: with tunnel.provider: none the admin
// chose a proxy; the log says so and gives no NGROK_AUTHTOKEN advice, and
// health's tunnel says provider none. With auto and no authtoken the tunnel
// is ngrok's, disabled, and the log says how to add the token.
func TestNoNgrokAdviceWithProviderNone(t *testing.T) {
	tunnelIs := func(c *app.Client, provider string) {
		t.Helper()
		h, err := c.Health(context.Background())
		if err != nil || h.Tunnel.Provider != provider || h.Tunnel.Status != app.TunnelDisabled {
			t.Fatalf("health tunnel = %+v, %v; want provider %s, disabled", h.Tunnel, err, provider)
		}
	}
	c, logs, _ := startDaemon(t, fmt.Sprintf("data_dir: %q\nreceiver: {listen: %q}\nadmin: {listen: %q}\ntunnel: {provider: none}\n",
		t.TempDir(), freeAddr(t), freeAddr(t)), nil)
	if l := logs(); strings.Contains(l, "NGROK_AUTHTOKEN") || !strings.Contains(l, "tunnel.provider: none") {
		t.Fatalf("log with provider none:\n%s\nwant no NGROK_AUTHTOKEN advice, and the choice named", l)
	}
	tunnelIs(c, "none")
	c, logs, _ = startDaemon(t, fmt.Sprintf("data_dir: %q\nreceiver: {listen: %q}\nadmin: {listen: %q}\ntunnel: {provider: auto, authtoken: \"\"}\n",
		t.TempDir(), freeAddr(t), freeAddr(t)), nil)
	if l := logs(); !strings.Contains(l, "set NGROK_AUTHTOKEN") {
		t.Fatalf("log with provider auto and no authtoken:\n%s\nwant the NGROK_AUTHTOKEN advice", l)
	}
	tunnelIs(c, "ngrok")
}

// TestCLISmallTruths runs the built binary against a daemon with an admin
// token and checks that each command says one true thing (issue 17's
// smaller findings): the token refused, the command asked for, the street,
// test customers on request, no table before an error, the id not found,
// who added a secret, the stop that works here, a signature's age in days,
// a config problem once without a usage line, the unset variable by name,
// and the version Go stamped.
func TestCLISmallTruths(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the daemon with SIGTERM")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	const token, secret = "small-truths-token-0123456789", "small-truths-secret-0001"
	config, receiverAddr, adminAddr := daemonConfig(t, dir, token, secretYAML(secret))
	noToken := filepath.Join(dir, "no-token.yaml")
	writeFile(t, noToken, fmt.Sprintf("admin: {listen: %q}\n", adminAddr))
	stop := startProcess(t, bin, config, adminAddr, "").Stop
	defer stop()
	cli := func(wantCode int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, bin, args...)
		if r.code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, wantCode, r.stdout, r.stderr)
		}
		return r
	}
	deliver := func(body string, signedAt time.Time) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+receiverAddr+"/api/webhooks/robaws/customers", strings.NewReader(body))
		req.Header.Set("Robaws-Signature", intake.Sign(secret, signedAt.Unix(), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// status with the wrong token: the table and the error agree.
	r := cli(1, "status", "--config", noToken)
	if strings.Contains(r.stdout, "not answering") || !strings.Contains(r.stdout, "refused the token") || !strings.Contains(r.stderr, "refused") {
		t.Errorf("status with a refused token:\n%s%s", r.stdout, r.stderr)
	}
	// help names the command asked for.
	if r := cli(2, "help", "nosuch"); !strings.Contains(r.stderr, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: %q", r.stderr)
	}

	// customers show keeps the street Robaws sent without addressLine1.
	deliver(`{"id":"ev-street","event":"client.created","data":{"id":"218","name":"Transports Dupont SA","street":"Noorderlaan","streetNumber":"147","address":{"postalCode":"2030","city":"Antwerpen"},"countryCode":"BE"}}`, time.Now())
	if r := cli(0, "customers", "show", "218", "--config", config); !strings.Contains(r.stdout, "Noorderlaan 147, 2030 Antwerpen, BE") {
		t.Errorf("customers show 218:\n%s", r.stdout)
	}
	// customers leaves send-test's customer out; --test lists it.
	cli(0, "send-test", "--config", config)
	// provider none: no ngrok advice for --public either.
	if r := cli(2, "send-test", "--public", "--config", config); strings.Contains(r.stderr, "NGROK_AUTHTOKEN") || !strings.Contains(r.stderr, "tunnel.provider is none") {
		t.Errorf("send-test --public with provider none: %q", r.stderr)
	}
	if r := cli(0, "customers", "--config", config); strings.Contains(r.stdout, "TEST-1") || !strings.Contains(r.stdout, "218") {
		t.Errorf("customers:\n%s", r.stdout)
	}
	if r := cli(0, "customers", "--test", "--config", config); !strings.Contains(r.stdout, "TEST-1") {
		t.Errorf("customers --test:\n%s", r.stdout)
	}

	// replay of an unknown id: the error only, no empty table.
	if r := cli(1, "replay", "999", "--config", config); r.stdout != "" || !strings.Contains(r.stderr, `log entry "999" not found`) {
		t.Errorf("replay 999: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// delete --remote of an unknown id: not found, not the credentials.
	if r := cli(1, "webhooks", "delete", "999", "--remote", "--config", config); !strings.Contains(r.stderr, `"999" not found`) || strings.Contains(r.stderr, "credentials") {
		t.Errorf("webhooks delete 999 --remote: %q", r.stderr)
	}
	// A pasted secret is listed as added by hand, the file's as config.
	cli(0, "webhooks", "add", "--secret", "pasted-secret-0123456789", "--config", config)
	list := cli(0, "webhooks", "list", "--config", config).stdout
	if !regexp.MustCompile(`(?m)^\d+\s+customers\s+registered\s+hand \(pasted\)`).MatchString(list) || !strings.Contains(list, "config file") {
		t.Errorf("webhooks list:\n%s", list)
	}

	// check and restore give the stop that works on this machine.
	st, _ := service.Status(service.Config{})
	cli(0, "backup", filepath.Join(dir, "backup.db"), "--config", config)
	for _, args := range [][]string{{"check"}, {"restore", filepath.Join(dir, "backup.db")}} {
		r := cli(1, append(args, "--config", config)...)
		if st != service.StatusRunning && (strings.Contains(r.stderr, "robaws-edge stop") || !strings.Contains(r.stderr, "Ctrl-C")) {
			t.Errorf("%v with the daemon running by hand (service %s): %q", args, st, r.stderr)
		}
	}

	// A signature 1117 days old: its age in days, after its date.
	deliver(`{"id":"ev-old","event":"client.updated","data":{"id":"218","name":"Old"}}`, time.Now().Add(-1117*24*time.Hour))
	logs := cli(0, "logs", "--status", "rejected", "--json", "--config", config).stdout
	id := regexp.MustCompile(`"id": (\d+)`).FindStringSubmatch(logs)
	if id == nil {
		t.Fatalf("no rejected entry:\n%s", logs)
	}
	if r := cli(0, "logs", "show", id[1], "--config", config); !strings.Contains(r.stdout, ", 1117 days before it arrived, 1 v1 element(s)") {
		t.Errorf("logs show %s:\n%s", id[1], r.stdout)
	}

	// A config problem: once, exit 2, no usage line; an unset variable named.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "bogus: 1\n")
	if r := cli(2, "run", "--config", bad); strings.Contains(r.stderr, "usage:") || strings.Count(r.stderr, `unknown key "bogus"`) != 1 {
		t.Errorf("run with an unknown key: %q", r.stderr)
	}
	unset := filepath.Join(dir, "unset.yaml")
	writeFile(t, unset, fmt.Sprintf("admin: {listen: %q, token: \"${ROBAWS_EDGE_SMALL_UNSET}\"}\n", adminAddr))
	if r := cli(2, "status", "--config", unset); !strings.Contains(r.stderr, "${ROBAWS_EDGE_SMALL_UNSET} is not set") || strings.Contains(r.stderr, "usage:") {
		t.Errorf("status with an unset token variable: %q", r.stderr)
	}
}

// TestVersionOfTheBinary: `--version` of a plain go build says the module
// version Go stamped into it (go version -m), or "(devel)" when nothing is
// stamped (a git worktree, -buildvcs=false), never "dev"; a release build's
// -X main.version wins.
func TestVersionOfTheBinary(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+mod\s+\S+\s+(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("go version -m:\n%s", out)
	}
	r := runCLI(t, bin, "--version")
	want := "robaws-edge " + string(m[1])
	if string(m[1]) == "(devel)" {
		want = "robaws-edge (devel)"
	}
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) || strings.TrimSpace(r.stdout) == "robaws-edge dev" {
		t.Errorf("--version = %q, want %q (go version -m says %s)", r.stdout, want, m[1])
	}
	release := filepath.Join(t.TempDir(), "robaws-edge")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", release, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, out)
	}
	if r := runCLI(t, release, "version"); r.stdout != "robaws-edge v9.8.7-test\n" {
		t.Errorf("release build says %q, want robaws-edge v9.8.7-test", r.stdout)
	}
}
