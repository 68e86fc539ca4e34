package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStatusTellsTheTruth runs a daemon as a fresh install would be set up
// (no secret, no tunnel token, loopback receiver): status lists both
// problems with their fixes and exits 1; then with the README's setup (the
// secret in the service's environment, unset in the admin's shell) status
// and logs still work and only report real problems.
func TestStatusTellsTheTruth(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the daemon with SIGTERM")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	receiverAddr, adminAddr := freeAddr(t), freeAddr(t)
	config := filepath.Join(dir, "fresh.yaml")
	writeFile(t, config, fmt.Sprintf("data_dir: %q\nreceiver: {listen: %q}\nadmin: {listen: %q}\ntunnel: {authtoken: \"\"}\n",
		filepath.Join(dir, "fresh"), receiverAddr, adminAddr))
	stop := startProcess(t, bin, config, adminAddr, "").Stop
	r := runCLI(t, bin, "status", "--config", config)
	stop()
	if r.code != 1 {
		t.Fatalf("status on a fresh install: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"no_active_secret: endpoint customers has no secret", "robaws-edge webhooks add", "no_public_url", "NGROK_AUTHTOKEN", "console", "http://" + adminAddr + "/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stderr, "health problem") != 1 {
		t.Errorf("status stderr %q, want the failure said once", r.stderr)
	}

	// The README's setup: secrets: ["${ROBAWS_CUSTOMERS_SECRET}"], the value
	// only in the service's environment.
	receiverAddr, adminAddr = freeAddr(t), freeAddr(t)
	config = filepath.Join(dir, "env.yaml")
	writeFile(t, config, fmt.Sprintf("data_dir: %q\nreceiver: {listen: %q}\nadmin: {listen: %q}\ntunnel: {provider: none}\nendpoints:\n  customers:\n    secrets: [\"${ROBAWS_CUSTOMERS_SECRET}\"]\n",
		filepath.Join(dir, "env"), receiverAddr, adminAddr))
	t.Setenv("ROBAWS_CUSTOMERS_SECRET", "store-test-secret-0001")
	stop = startProcess(t, bin, config, adminAddr, "").Stop
	defer stop()
	if code := postDelivery(t, receiverAddr, "env-1"); code != 200 {
		t.Fatalf("delivery: got %d, want 200", code)
	}
	shell := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")} // no ROBAWS_CUSTOMERS_SECRET
	if r := runCLIEnv(t, bin, shell, "status", "--config", config); r.code != 0 || !strings.Contains(r.stdout, "ok (version") {
		t.Fatalf("status without the secret in the shell: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLIEnv(t, bin, shell, "logs", "--config", config); r.code != 0 || !strings.Contains(r.stdout, "C-env-1") {
		t.Fatalf("logs without the secret in the shell: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// config check still refuses what run would refuse.
	if r := runCLIEnv(t, bin, shell, "config", "check", "--config", config); r.code != 2 || !strings.Contains(r.stderr, "endpoints.customers.secrets[0]") {
		t.Fatalf("config check without the secret: exit %d %q", r.code, r.stderr)
	}
}

// TestLogsFollow: a delivery posted after `logs --follow` starts is printed
// within a second (SPEC §6, the §4 stream).
func TestLogsFollow(t *testing.T) {
	bin, _, config, receiverAddr, _, stop := startStoreDaemon(t)
	defer stop()
	if code := postDelivery(t, receiverAddr, "before"); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	cmd := exec.Command(bin, "logs", "--follow", "--config", config)
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, "the list before following", 5*time.Second, func() bool { return strings.Contains(out.String(), "C-before") })
	waitFor(t, "the stream open", 5*time.Second, func() bool { return strings.Contains(errOut.String(), "following new and changed entries") })
	posted := time.Now()
	if code := postDelivery(t, receiverAddr, "after"); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	waitFor(t, "the followed delivery", time.Second, func() bool { return strings.Contains(out.String(), "C-after") })
	t.Logf("printed %v after the delivery's answer", time.Since(posted).Round(time.Millisecond))
	// Columns never run together: two spaces at least between any two
	// (the local time's offset ran into the endpoint).
	apart := regexp.MustCompile(`\s{2,}`)
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if n := len(apart.Split(strings.TrimSpace(line), -1)); n != 8 {
			t.Errorf("--follow line %q: %d columns two spaces apart, want 8", line, n)
		}
	}
}
