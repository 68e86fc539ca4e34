package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// storeConfig writes a config for a daemon on fresh loopback ports over
// dir/data and returns its path, the receiver's and the admin's address.
func storeConfig(t *testing.T, dir string) (config, receiverAddr, adminAddr string) {
	t.Helper()
	return daemonConfig(t, dir, "", secretYAML("store-test-secret-0001"))
}

// startStoreDaemon builds the binary and runs it on storeConfig over a
// fresh temp dir; stop ends it.
func startStoreDaemon(t *testing.T) (bin, dir, config, receiverAddr, adminAddr string, stop func()) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("stops the daemon with SIGTERM")
	}
	bin = buildBinary(t)
	dir = t.TempDir()
	config, receiverAddr, adminAddr = storeConfig(t, dir)
	return bin, dir, config, receiverAddr, adminAddr, startProcess(t, bin, config, adminAddr, "").Stop
}

// storeDB is the database file of a daemon on storeConfig over dir.
func storeDB(dir string) string { return filepath.Join(dir, "data", "robaws-edge.db") }

// postDeliveries sends n signed deliveries (e-0, e-1, …), each of which
// must be stored (200).
func postDeliveries(t *testing.T, receiverAddr string, n int) {
	t.Helper()
	for i := range n {
		if code := postDelivery(t, receiverAddr, fmt.Sprint("e-", i)); code != 200 {
			t.Fatalf("delivery %d: got %d, want 200", i, code)
		}
	}
}

// logLen is how many entries the log of the daemon at adminAddr holds (up
// to store.MaxLimit).
func logLen(t *testing.T, adminAddr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := app.NewClient(adminAddr, "").LogEntries(ctx, store.LogFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("log entries: %v", err)
	}
	return len(p.Items)
}

// cliSays checks that a command exited with code and printed each of want,
// and no crash dump.
func cliSays(t *testing.T, what string, r cliResult, code int, want ...string) {
	t.Helper()
	out := r.stdout + r.stderr
	if r.code != code {
		t.Errorf("%s: exit %d, want %d: %s", what, r.code, code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output %q, want %q in it", what, out, w)
		}
	}
	for _, bad := range []string{"goroutine", "panic", "SIGSEGV", "SIGBUS", "assertion failed"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s printed %q:\n%s", what, bad, out)
		}
	}
}

// postDelivery sends one signed client.created and returns the status code.
func postDelivery(t *testing.T, receiverAddr, eventID string) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"event":"client.created","data":{"id":"C-%s","name":"Store Test"}}`, eventID, eventID)
	req, _ := http.NewRequest("POST", "http://"+receiverAddr+"/api/webhooks/robaws/customers", strings.NewReader(body))
	req.Header.Set("Robaws-Signature", intake.Sign("store-test-secret-0001", time.Now().Unix(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDatabaseRemovedUnderDaemon renames the database file away under the
// running daemon (SPEC §1.9): the next delivery is answered 503, never 200,
// health names the database, the cause and the fix, and the fix works.
func TestDatabaseRemovedUnderDaemon(t *testing.T) {
	_, dir, _, receiverAddr, adminAddr, stop := startStoreDaemon(t)
	defer stop()

	if code := postDelivery(t, receiverAddr, "before"); code != 200 {
		t.Fatalf("delivery before: got %d, want 200", code)
	}
	db := storeDB(dir)
	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	// Every commit checks the path first: the very next delivery is 503.
	for i := range 5 {
		if code := postDelivery(t, receiverAddr, fmt.Sprint("after-", i)); code != 503 {
			t.Fatalf("delivery %d after the rename: got %d, want 503", i, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := app.NewClient(adminAddr, "").Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || len(h.Problems) == 0 || h.Problems[0].Code != app.ProblemStoreUnavailable || !strings.Contains(h.Problems[0].Message, db) ||
		!strings.Contains(h.Problems[0].Message, "was moved away") || !strings.Contains(h.Problems[0].Message, "move it back to "+db) {
		t.Fatalf("health = %s %+v, want degraded with store_unavailable naming %s moved away and the fix", h.Status, h.Problems, db)
	}
	// The fix: moving it back, and deliveries are stored again.
	if err := os.Rename(db+".moved", db); err != nil {
		t.Fatal(err)
	}
	if code := postDelivery(t, receiverAddr, "back"); code != 200 {
		t.Fatalf("delivery once the file is back: got %d, want 200", code)
	}
}

// TestDamagedFileAtStart damages a real database file the daemon wrote and
// checks run, check and restore (SPEC §1.10): a clear error naming the file,
// exit 1, never a crash dump; restore of a backup brings it back.
func TestDamagedFileAtStart(t *testing.T) {
	bin, dir, config, receiverAddr, adminAddr, stop := startStoreDaemon(t)
	db, backup := storeDB(dir), filepath.Join(dir, "backup.db")
	postDeliveries(t, receiverAddr, 200)
	if r := runCLI(t, bin, "backup", backup, "--config", config); r.code != 0 {
		stop()
		t.Fatalf("backup: exit %d: %s", r.code, r.stderr)
	}
	if r := runCLI(t, bin, "check", "--config", config); r.code != 1 || !strings.Contains(r.stderr, "stop it first") {
		t.Errorf("check while running: exit %d %q, want 1 asking to stop the daemon", r.code, r.stderr)
	}
	if r := runCLI(t, bin, "restore", backup, "--config", config); r.code != 1 || !strings.Contains(r.stderr, "stop it first") {
		t.Errorf("restore while running: exit %d %q, want 1 asking to stop the daemon", r.code, r.stderr)
	}
	stop()
	if r := runCLI(t, bin, "check", "--config", config); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("check of a good file: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	cliSays(t, "run", runCLI(t, bin, "run", "--config", config), 1, db, "damaged")
	cliSays(t, "check", runCLI(t, bin, "check", "--config", config), 1, db, "damaged")

	r := runCLI(t, bin, "restore", backup, "--config", config)
	if r.code != 0 || !strings.Contains(r.stdout, "kept as") {
		t.Fatalf("restore: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	aside, _ := filepath.Glob(db + ".before-restore-*")
	if len(aside) != 1 {
		t.Fatalf("kept-aside files = %v, want 1", aside)
	}
	if r := runCLI(t, bin, "check", "--config", config); r.code != 0 {
		t.Fatalf("check after restore: exit %d %q", r.code, r.stderr)
	}
	stop = startProcess(t, bin, config, adminAddr, "").Stop
	defer stop()
	if code := postDelivery(t, receiverAddr, "e-7"); code != 200 {
		t.Fatalf("repeat after restore: got %d, want 200 (duplicate)", code)
	}
	if n := logLen(t, adminAddr); n != 200 {
		t.Fatalf("log after restore = %d entries, want the 200 deliveries of the backup", n)
	}
}

// TestDatabaseOverwrittenUnderDaemon copies a backup over the live database
// file in place, and then truncates it, while deliveries keep arriving
// (issue 15.4): the device and inode stay the same, so only the content
// tells. Within a second no delivery is answered 2xx any more, health
// names the overwrite and its fix, nothing hangs, and SIGTERM ends the
// daemon well within the service's stop deadline (25 s).
func TestDatabaseOverwrittenUnderDaemon(t *testing.T) {
	for _, how := range []string{"cp", "truncate"} {
		t.Run(how, func(t *testing.T) {
			bin, dir, config, receiverAddr, adminAddr, stop := startStoreDaemon(t)
			var stopOnce sync.Once
			stopDaemon := func() { stopOnce.Do(stop) }
			defer stopDaemon()
			db := storeDB(dir)
			backup := filepath.Join(dir, "backup.db")
			for i := range 20 {
				if code := postDelivery(t, receiverAddr, fmt.Sprint("before-", i)); code != 200 {
					t.Fatalf("delivery before: got %d, want 200", code)
				}
			}
			if r := runCLI(t, bin, "backup", backup, "--config", config); r.code != 0 {
				t.Fatalf("backup: exit %d: %s", r.code, r.stderr)
			}
			// Deliveries from 8 senders all along; each records when it
			// was sent and what it got.
			type result struct {
				sent time.Time
				code int
			}
			var mu sync.Mutex
			var results []result
			quit := make(chan struct{})
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 15 * time.Second}
			for s := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-quit:
							return
						default:
						}
						body := fmt.Sprintf(`{"id":"s%d-%d","event":"client.created","data":{"id":"C-%d-%d","name":"Flood"}}`, s, i, s, i)
						req, _ := http.NewRequest("POST", "http://"+receiverAddr+"/api/webhooks/robaws/customers", strings.NewReader(body))
						req.Header.Set("Robaws-Signature", intake.Sign("store-test-secret-0001", time.Now().Unix(), []byte(body)))
						sent := time.Now()
						resp, err := client.Do(req)
						code := 0
						if err == nil {
							code = resp.StatusCode
							resp.Body.Close()
						}
						mu.Lock()
						results = append(results, result{sent, code})
						mu.Unlock()
					}
				})
			}
			// Let deliveries flow, then change the file in place.
			waitFor(t, "deliveries to flow", 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(results) > 200
			})
			var cmd *exec.Cmd
			if how == "cp" {
				cmd = exec.Command("cp", backup, db)
			} else {
				cmd = exec.Command("truncate", "-s", "0", db)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v %s", how, err, out)
			}
			changed := time.Now()
			waitFor(t, "deliveries after the change", 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(results) > 0 && results[len(results)-1].sent.After(changed.Add(2*time.Second))
			})
			close(quit)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("deliveries hang after the file changed")
			}
			var after, ok, unanswered int
			for _, r := range results {
				if r.sent.Before(changed.Add(time.Second)) {
					continue
				}
				after++
				switch {
				case r.code/100 == 2:
					ok++
				case r.code != http.StatusServiceUnavailable:
					unanswered++
				}
			}
			if after == 0 || ok > 0 || unanswered > 0 {
				t.Fatalf("deliveries sent 1 s after the %s: %d, of them %d answered 2xx and %d not 503; want all 503", how, after, ok, unanswered)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h, err := app.NewClient(adminAddr, "").Health(ctx)
			if err != nil {
				t.Fatalf("health after the %s: %v", how, err)
			}
			if h.Status != "degraded" || len(h.Problems) == 0 || h.Problems[0].Code != app.ProblemStoreUnavailable ||
				!strings.Contains(h.Problems[0].Message, db) || !strings.Contains(h.Problems[0].Message, "overwritten or truncated in place") ||
				!strings.Contains(h.Problems[0].Message, "robaws-edge restore FILE") {
				t.Fatalf("health = %s %+v, want store_unavailable naming %s overwritten and the restore", h.Status, h.Problems, db)
			}
			start := time.Now()
			stopDaemon()
			took := time.Since(start)
			if took > 10*time.Second {
				t.Fatalf("SIGTERM took %v, want well within the 25 s stop deadline", took)
			}
			t.Logf("%d deliveries sent from 1 s after the %s, all 503; SIGTERM took %v", after, how, took.Round(time.Millisecond))
		})
	}
}

// TestDatabaseFileEmptyOrMissing: once the daemon has created its database,
// a 0-byte or missing file is refused by `run` with the fix, never replaced
// by an empty database (issue 15.5); `restore --empty` is the way to start
// empty on purpose.
func TestDatabaseFileEmptyOrMissing(t *testing.T) {
	bin, dir, config, receiverAddr, adminAddr, stop := startStoreDaemon(t)
	db := storeDB(dir)
	postDeliveries(t, receiverAddr, 1)
	stop()
	refused := func(what string, r cliResult, want ...string) {
		t.Helper()
		cliSays(t, what, r, 1, append(want, db, "robaws-edge restore --empty")...)
	}
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	refused("run on a 0-byte file", runCLI(t, bin, "run", "--config", config), "file is empty")
	refused("check on a 0-byte file", runCLI(t, bin, "check", "--config", config), "file is empty")
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	refused("run without the file", runCLI(t, bin, "run", "--config", config), "is missing", "robaws-edge restore FILE")
	if _, err := os.Stat(db); err == nil {
		t.Fatal("the refused run created a database file")
	}
	r := runCLI(t, bin, "restore", "--empty", "--config", config)
	if r.code != 0 || !strings.Contains(r.stdout, "a new empty database") {
		t.Fatalf("restore --empty: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	stop = startProcess(t, bin, config, adminAddr, "").Stop
	defer stop()
	if code := postDelivery(t, receiverAddr, "kept"); code != 200 {
		t.Fatalf("delivery after restore --empty: got %d, want 200", code)
	}
	if n := logLen(t, adminAddr); n != 1 {
		t.Fatalf("log after restore --empty = %d entries, want the one new delivery", n)
	}
}

// TestDamagedMetaPageAtStart damages the first meta page of a stopped
// daemon's file: run, check and restore (of it as a backup) answer exit 1
// with the reason, never a panic's text (issues 15.10 and 17).
func TestDamagedMetaPageAtStart(t *testing.T) {
	bin, dir, config, receiverAddr, _, stop := startStoreDaemon(t)
	db := storeDB(dir)
	postDeliveries(t, receiverAddr, 20)
	stop()
	damage := func(data []byte, at int64) {
		t.Helper()
		f, err := os.OpenFile(db, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(data, at); err != nil {
			t.Fatal(err)
		}
	}
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// Restores of the damaged file as a backup go to another data dir.
	writeFile(t, filepath.Join(dir, "other.yaml"), fmt.Sprintf("data_dir: %q\n", filepath.Join(dir, "other")))
	// The meta's checksum: bbolt opens the file from the second page.
	damage([]byte("garbage"), 16+20)
	cliSays(t, "check", runCLI(t, bin, "check", "--config", config), 1, "first meta page: meta page checksum mismatch")
	cliSays(t, "restore of it", runCLI(t, bin, "restore", db, "--config", filepath.Join(dir, "other.yaml")), 1, "first meta page")
	// The whole page: bbolt cannot open it at all.
	damage(make([]byte, os.Getpagesize()), 0)
	cliSays(t, "run", runCLI(t, bin, "run", "--config", config), 1, "first meta page: not a meta page")
	cliSays(t, "check", runCLI(t, bin, "check", "--config", config), 1, "first meta page: not a meta page")
	cliSays(t, "restore of it", runCLI(t, bin, "restore", db, "--config", filepath.Join(dir, "other.yaml")), 1, "first meta page: not a meta page")
	if err := os.WriteFile(db, good, 0o600); err != nil {
		t.Fatal(err)
	}
	cliSays(t, "check of the sound file", runCLI(t, bin, "check", "--config", config), 0, "ok")
}
