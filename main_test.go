package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// binDir holds the binary built once for all end-to-end tests.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds robaws-edge once into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			binError = err
			return
		}
		if binDir, binError = os.MkdirTemp("", "robaws-edge-bin-"); binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "robaws-edge")
		// No deadline: on a fresh machine (an empty build cache) a busy
		// 2-core PC takes minutes to build, and that is not a failure.
		// go test's own -timeout (10 min by default) still bounds a hang.
		if out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// handedOut holds the ports freeAddr has returned in this test binary, so
// that two daemons of one test never get the same one.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// freeAddr returns a loopback address nothing listens on and that no other
// freeAddr call of this test binary returned. (Another process could still
// take the port before the daemon binds it; nothing here has seen that.)
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.ports[addr] {
			handedOut.ports[addr] = true
			return addr
		}
	}
}

// cliResult is one run of the binary.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, bin string, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, bin, nil, args...)
}

// runCLIEnv runs the binary with env as its environment (nil: this
// process's).
func runCLIEnv(t *testing.T, bin string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return r
}

// TestEndToEnd runs the built binary: `run` with a temp config, a signed
// delivery, every data command against it, a backup, then the commands'
// answer once the daemon is stopped.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("stops the daemon with SIGTERM")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	const secret, token = "e2e-secret-value", "e2e-token-0123456789"
	config, receiverAddr, adminAddr := daemonConfig(t, dir, token, secretYAML(secret)+"log: {level: debug}\nretention: {max_age: 2160h}\n")

	var daemonLog bytes.Buffer
	daemon := exec.Command(bin, "run", "--config", config)
	daemon.Stdout, daemon.Stderr = &daemonLog, &daemonLog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			daemon.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", daemonLog.String())
		}
	}()

	client := app.NewClient(adminAddr, token)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := client.Health(ctx)
		cancel()
		if err == nil {
			if h.Status != "ok" || h.Tunnel.Status != "disabled" {
				t.Fatalf("health = %+v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	deliver := func(secret string, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+receiverAddr+"/api/webhooks/robaws/customers", strings.NewReader(body))
		req.Header.Set("Robaws-Signature", intake.Sign(secret, time.Now().Unix(), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	deliver(secret, `{"id":"e2e-1","event":"client.created","data":{"id":"C-1","name":"Test Customer","email":"Test@Example.com","extraFields":{"Role":{"stringValue":"driver"}}}}`)
	deliver(secret, `{"id":"e2e-2","event":"client.updated","data":{"name":"no id"}}`)
	deliver("rotated-secret-x", `{"id":"e2e-3","event":"client.created","data":{"id":"C-2","name":"Late Secret"}}`)

	cfg := []string{"--config", config}
	cli := func(wantCode int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, bin, append(args, cfg...)...)
		if r.code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, wantCode, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, secret) || strings.Contains(r.stdout+r.stderr, "rotated-secret-x") {
			t.Fatalf("%v printed a secret:\n%s%s", args, r.stdout, r.stderr)
		}
		return r
	}
	contains := func(r cliResult, subs ...string) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("output lacks %q:\n%s", s, r.stdout)
			}
		}
	}
	jsonOut := func(r cliResult, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
	}
	logID := func(status string) uint64 {
		t.Helper()
		var evs []store.LogEntry
		jsonOut(cli(0, "logs", "--status", status, "--json"), &evs)
		if len(evs) != 1 {
			t.Fatalf("%d %s entries, want 1", len(evs), status)
		}
		return evs[0].ID
	}

	contains(cli(0, "status"), "service", "daemon", "ok (version", adminAddr, receiverAddr, "robaws-edge.db")
	var st struct { // `status --json`
		Service string      `json:"service"`
		Daemon  *app.Health `json:"daemon"`
	}
	jsonOut(cli(0, "status", "--json"), &st)
	if st.Daemon == nil || st.Daemon.Status != "ok" || st.Service == "" {
		t.Errorf("status --json = %+v", st)
	}

	contains(cli(0, "logs"), "ID", "processed", "failed", "rejected", "C-1", "signature mismatch")
	var evs []store.LogEntry
	jsonOut(cli(0, "logs", "--client", "C-1", "--json"), &evs)
	if len(evs) != 1 || evs[0].EventID != "e2e-1" {
		t.Errorf("logs --client C-1 = %+v", evs)
	}
	// A list cut by --limit says how to go on, and --cursor does.
	r := cli(0, "logs", "--limit", "1")
	more := r.stdout[strings.LastIndex(r.stdout, "more: --cursor ")+len("more: --cursor "):]
	if !strings.Contains(r.stdout, "more: --cursor ") || strings.TrimSpace(more) == "" {
		t.Errorf("logs --limit 1 gives no more hint:\n%s", r.stdout)
	} else if r2 := cli(0, "logs", "--limit", "1", "--cursor", strings.TrimSpace(more)); r2.stdout == r.stdout {
		t.Errorf("--cursor %s shows the same page", strings.TrimSpace(more))
	}
	jsonOut(cli(0, "logs", "--event", "client.created", "--limit", "1", "--json"), &evs)
	if len(evs) != 1 || evs[0].ClientID != "C-2" {
		t.Errorf("logs --event client.created --limit 1 = %+v", evs)
	}
	processed, rejected := logID("processed"), logID("rejected")
	logID("failed")
	contains(cli(0, "logs", "show", fmt.Sprint(processed)), "e2e-1", "payload:", `"Test Customer"`)
	if r := cli(2, "logs", "--limit", "abc"); !strings.Contains(r.stderr, "-limit") {
		t.Errorf("bad --limit: %s", r.stderr)
	}
	if r := cli(2, "logs", "--colour"); !strings.Contains(r.stderr, "-colour") {
		t.Errorf("unknown flag: %s", r.stderr)
	}
	if r := cli(2, "logs", "--status", "done"); !strings.Contains(r.stderr, "invalid status") {
		t.Errorf("bad --status: %s", r.stderr)
	}
	if r := cli(1, "logs", "show", "99999"); !strings.Contains(r.stderr, `log entry "99999" not found`) {
		t.Errorf("logs show unknown: %s", r.stderr)
	}

	contains(cli(0, "webhooks", "list"), "config:customers#1", "config", "…alue")
	contains(cli(0, "webhooks", "add", "--endpoint", "customers", "--secret", "rotated-secret-x"), "added secret 1")
	contains(cli(0, "replay", fmt.Sprint(rejected)), "processed")
	contains(cli(1, "replay", "--status", "failed"), "replayed 1 failed entries: failed 1") // still failed: exit 1
	if r := cli(1, "replay", "99999"); !strings.Contains(r.stderr, "not found") {
		t.Errorf("replay unknown: %s", r.stderr)
	}
	cli(2, "replay")

	contains(cli(0, "customers"), "C-1", "Test Customer", "DRIVER", "C-2", "Late Secret")
	var cs []store.Customer
	jsonOut(cli(0, "customers", "--q", "example.com", "--json"), &cs)
	if len(cs) != 1 || cs[0].ID != "C-1" || cs[0].Raw != nil {
		t.Errorf("customers --q example.com = %+v", cs)
	}
	jsonOut(cli(0, "customers", "--role", "driver", "--json"), &cs)
	if len(cs) != 1 || cs[0].ID != "C-1" {
		t.Errorf("customers --role driver = %+v", cs)
	}
	contains(cli(0, "customers", "show", "C-1"), "test@example.com", "DRIVER", "webhook")
	// customers show lists the customer's deliveries, every status, newest
	// first: a page of 20 and the logs command that shows the rest.
	c1 := func(eventID, updatedAt string) string {
		return `{"id":"` + eventID + `","event":"client.updated","data":{"id":"C-1","name":"Test Customer","email":"Test@Example.com",` +
			`"extraFields":{"Role":{"stringValue":"driver"}},"updatedAt":"` + updatedAt + `"}}`
	}
	deliver(secret, c1("e2e-new", "2026-01-02T00:00:00Z"))
	deliver("wrong-secret-0000", c1("e2e-bad", "2026-01-03T00:00:00Z"))
	for i := range 19 {
		deliver(secret, c1(fmt.Sprint("e2e-old-", i), "2026-01-01T00:00:00Z")) // older than e2e-new: stale
	}
	r = cli(0, "customers", "show", "C-1")
	_, deliveries, _ := strings.Cut(r.stdout, "\ndeliveries, newest first:\n")
	rows := strings.Split(strings.TrimSpace(deliveries), "\n")
	if len(rows) != 22 || !strings.HasPrefix(rows[0], "LOG ") || strings.Count(deliveries, " stale ") != 19 ||
		!strings.Contains(rows[20], " rejected ") || !strings.HasPrefix(rows[21], "more: robaws-edge logs --client C-1 --cursor ") {
		t.Fatalf("customers show C-1: want the record, then 20 deliveries (19 stale, 1 rejected) and a more: line:\n%s", r.stdout)
	}
	// The more: line, run as it is (with --json), shows the rest.
	jsonOut(cli(0, append(strings.Fields(strings.TrimPrefix(rows[21], "more: robaws-edge ")), "--json")...), &evs)
	if len(evs) != 2 || evs[0].EventID != "e2e-new" || evs[1].EventID != "e2e-1" {
		t.Errorf("%s --json = %+v, want e2e-new and e2e-1", rows[21], evs)
	}
	contains(cli(0, "customers", "history", "C-2"), "replay", "name: null → \"Late Secret\"")
	if r := cli(1, "customers", "show", "NOPE"); !strings.Contains(r.stderr, `customer "NOPE" not found`) {
		t.Errorf("customers show unknown: %s", r.stderr)
	}

	contains(cli(0, "webhooks", "delete", "1"), "deactivated secret 1")
	cli(2, "webhooks", "delete", "config:customers#1")
	cli(2, "webhooks", "add", "--endpoint", "customers")
	if r := cli(2, "webhooks", "add", "--endpoint", "customers", "--secret", "k"); !strings.Contains(r.stderr, "-secret: 1 characters, want at least 16") || strings.Contains(r.stderr, " k ") {
		t.Fatalf("short secret: stderr %q, want the flag named and the length only", r.stderr)
	}

	backup := filepath.Join(dir, "backups", "copy.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	contains(cli(0, "backup", backup), "wrote "+backup)
	if entries, _ := os.ReadDir(filepath.Dir(backup)); len(entries) != 1 {
		t.Errorf("backup dir holds %d files, want only the backup", len(entries))
	}
	if r := cli(2, "backup", backup); !strings.Contains(r.stderr, "--force") {
		t.Errorf("backup over a file: %q, want a hint at --force", r.stderr)
	}
	cli(0, "backup", backup, "--force")
	contains(cli(0, "backup", filepath.Dir(backup)), "wrote "+filepath.Join(filepath.Dir(backup), "robaws-edge-"))
	// The database holds the stored secrets: runCLI, not cli, which fails
	// on any secret in the output.
	if r := runCLI(t, bin, "backup", "-", "--config", config); r.code != 0 || !strings.HasPrefix(r.stdout, string([]byte{0, 0, 0, 0})) || len(r.stdout) < 16<<10 {
		t.Errorf("backup - wrote %d bytes to stdout, want the database file", len(r.stdout))
	}

	// A config with the wrong token gets a hint, not the data.
	wrong := filepath.Join(dir, "wrong-token.yaml")
	writeFile(t, wrong, fmt.Sprintf("admin: {listen: %q, token: nope}\ntunnel: {provider: none}\n", adminAddr))
	if r := runCLI(t, bin, "logs", "--config", wrong); r.code != 1 || !strings.Contains(r.stderr, "admin.token") {
		t.Errorf("wrong token: exit %d, %s", r.code, r.stderr)
	}

	// Stop the daemon the way a service manager does.
	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("daemon exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
	hint := fmt.Sprintf("robaws-edge is not running (no answer on %s): start it with `robaws-edge run` or `robaws-edge start`", adminAddr)
	for _, args := range [][]string{{"logs"}, {"customers"}, {"status"}, {"backup", filepath.Join(dir, "b2.db")}, {"replay", "1"}, {"webhooks", "list"}} {
		r := runCLI(t, bin, append(args, cfg...)...)
		if r.code != 1 || !strings.Contains(r.stderr, hint) {
			t.Errorf("%v with the daemon down: exit %d, stderr %q; want 1 and %q", args, r.code, r.stderr, hint)
		}
	}

	// The backup is a bbolt file with the same customers as the daemon had.
	want := openCustomers(t, filepath.Join(dir, "data", "robaws-edge.db"))
	got := openCustomers(t, backup)
	if len(want) != 2 || !equalJSON(want, got) {
		t.Errorf("backup customers:\n%v\nwant\n%v", got, want)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// daemonConfig writes dir/config.yaml for a daemon over dir/data with its
// receiver and admin API on fresh loopback ports (admin.token when token is
// not ""), then rest: the tunnel, endpoints and whatever the test needs. It
// returns the config's path and the receiver's and the admin's address.
func daemonConfig(t *testing.T, dir, token, rest string) (config, receiverAddr, adminAddr string) {
	t.Helper()
	receiverAddr, adminAddr = freeAddr(t), freeAddr(t)
	admin := fmt.Sprintf("{listen: %q}", adminAddr)
	if token != "" {
		admin = fmt.Sprintf("{listen: %q, token: %q}", adminAddr, token)
	}
	config = filepath.Join(dir, "config.yaml")
	writeFile(t, config, fmt.Sprintf("data_dir: %q\nreceiver: {listen: %q}\nadmin: %s\n%s", filepath.Join(dir, "data"), receiverAddr, admin, rest))
	return config, receiverAddr, adminAddr
}

// secretYAML is daemonConfig's rest for no tunnel and the customers
// endpoint verifying deliveries signed with secret.
func secretYAML(secret string) string {
	return fmt.Sprintf("tunnel: {provider: none}\nendpoints:\n  customers:\n    secrets: [%q]\n", secret)
}

// openCustomers opens a database file and lists its customers.
func openCustomers(t *testing.T, path string) []*store.Customer {
	t.Helper()
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, _, err := db.FindCustomers(context.Background(), store.CustomerFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
