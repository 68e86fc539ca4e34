package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/tunnel/tunneltest"
)

// fakeRobaws is a small Robaws API for tests: it registers webhooks (each
// with a fresh secret), deletes them and serves one page of clients.
type fakeRobaws struct {
	mu       sync.Mutex
	next     int
	created  []map[string]any // register requests
	secrets  map[string]string
	deleted  []string
	clients  []map[string]any
	srv      *httptest.Server
	authSeen []string
	// dailyRemaining, when positive, is announced as the day's budget left
	// (X-RateLimit-Daily-*), as Robaws does on every answer.
	dailyRemaining int
}

func newFakeRobaws(t *testing.T) *fakeRobaws {
	f := &fakeRobaws{secrets: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRobaws) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	if f.dailyRemaining > 0 {
		w.Header().Set("X-RateLimit-Daily-Limit", "10000")
		w.Header().Set("X-RateLimit-Daily-Remaining", fmt.Sprint(f.dailyRemaining))
		w.Header().Set("X-RateLimit-Daily-Reset", "3600")
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v2/webhook-endpoints":
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		f.next++
		id := fmt.Sprint("wh-", f.next)
		f.secrets[id] = fmt.Sprintf("robaws-secret-%d-abcdef", f.next)
		f.created = append(f.created, req)
		json.NewEncoder(w).Encode(map[string]any{"id": id, "url": req["url"], "events": req["events"], "secret": f.secrets[id]})
	case r.Method == "GET" && r.URL.Path == "/api/v2/webhook-endpoints":
		json.NewEncoder(w).Encode(map[string]any{"items": []any{}})
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/api/v2/webhook-endpoints/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, "/api/v2/webhook-endpoints/"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "GET" && r.URL.Path == "/api/v2/clients":
		items := f.clients
		if r.URL.Query().Get("page") != "0" {
			items = nil
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items, "totalItems": len(f.clients)})
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"no such route"}`)
	}
}

func (f *fakeRobaws) lastSecret() (id, secret string, url any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == 0 {
		return "", "", nil
	}
	id = fmt.Sprint("wh-", f.next)
	return id, f.secrets[id], f.created[len(f.created)-1]["url"]
}

// startDaemon runs openDaemon + serve in-process with the YAML config and
// returns a client of its local API, the log text so far (a func) and a
// func that stops the daemon (also called at the test's end).
func startDaemon(t *testing.T, yaml string, tweak func(*daemon)) (*app.Client, func() string, func()) {
	t.Helper()
	cfg, err := configs.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := openDaemon(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(d)
	}
	// Return once the listeners are bound: the test may deliver at once.
	ready, onReady := make(chan struct{}), d.ready
	d.ready = func(addr string) {
		if onReady != nil {
			onReady(addr)
		}
		close(ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.serve(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				buf := make([]byte, 1<<20)
				t.Errorf("daemon did not stop:\n%s", buf[:runtime.Stack(buf, true)])
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	return app.NewClient(cfg.Admin.Listen, cfg.Admin.Token), logs.String, stop
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tunnelOnlineURL(c *app.Client) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h, err := c.Health(ctx)
	if err != nil || h.Tunnel.Status != app.TunnelOnline || h.Tunnel.PublicURL == nil {
		return ""
	}
	return *h.Tunnel.PublicURL
}

// TestTunnelEndToEnd runs the daemon with the tunnel through a local fake
// ngrok edge and a fake Robaws: auto-registration at the public URL, a
// signed delivery through the tunnel (client IP recorded), admin paths not
// reachable through it, and a dropped edge connection that reconnects.
func TestTunnelEndToEnd(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	robaws := newFakeRobaws(t)
	const authtoken = "tunnel-test-authtoken-0123456789"
	adminAddr := freeAddr(t)
	client, logs, _ := startDaemon(t, fmt.Sprintf(`data_dir: %q
receiver: {listen: ""}
admin: {listen: %q}
tunnel: {provider: ngrok, authtoken: %q, connect_url: %q, connect_ca_file: %q}
robaws: {base_url: %q, api_key: test-api-key, sync_interval: 0}
`, t.TempDir(), adminAddr, authtoken, edge.ConnectURL(), edge.CAFile(), robaws.srv.URL), nil)

	var public string
	waitFor(t, "tunnel online", 15*time.Second, func() bool { public = tunnelOnlineURL(client); return public != "" })
	if public != edge.URL() {
		t.Fatalf("public URL = %q, want %q", public, edge.URL())
	}
	waitFor(t, "auto-registration", 10*time.Second, func() bool { id, _, _ := robaws.lastSecret(); return id != "" })
	_, secret, regURL := robaws.lastSecret()
	if want := edge.URL() + "/api/webhooks/robaws/customers"; regURL != want {
		t.Fatalf("registered URL %v, want %s", regURL, want)
	}
	if robaws.authSeen[0] != "Bearer test-api-key" {
		t.Fatalf("Robaws saw Authorization %q", robaws.authSeen[0])
	}
	// The secret was stored before the daemon used it: wait for the list.
	waitFor(t, "registered secret listed", 5*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		list, err := client.Webhooks(ctx)
		return err == nil && len(list) == 1 && list[0].Source == "registered" && list[0].Active
	})

	// deliver sends a signed delivery through the edge (0 when the edge
	// has no bound endpoint, e.g. while reconnecting).
	deliver := func(eventID string) (int, map[string]any) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"event":"client.updated","data":{"id":"TEST-7","name":"Through the tunnel"}}`, eventID)
		req, _ := http.NewRequest("POST", "/api/webhooks/robaws/customers", strings.NewReader(body))
		req.Header.Set("Robaws-Signature", intake.Sign(secret, time.Now().Unix(), []byte(body)))
		resp, err := edge.Do(req, "203.0.113.7:4711")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var a map[string]any
		json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	// Listed means stored; the receiver loads it a moment later (the
	// registrar reloads right after the write), so a first delivery may
	// still meet the old secret set: retry that one answer only.
	var code int
	var a map[string]any
	waitFor(t, "the registered secret verifying", 5*time.Second, func() bool {
		code, a = deliver("tunnel-1")
		return code != 401
	})
	if code != 200 || a["status"] != "processed" {
		t.Fatalf("delivery through the tunnel: %d %v, want 200 processed", code, a)
	}
	ctx := context.Background()
	ev, err := client.LogEntry(ctx, uint64(a["log_id"].(float64)))
	if err != nil || ev.RemoteAddr != "203.0.113.7" {
		t.Fatalf("log entry %+v (%v), want remote_addr 203.0.113.7", ev, err)
	}

	for _, path := range []string{"/api/health", "/api/customers", "/api/backup", "/metrics", "/api/webhook-logs"} {
		req, _ := http.NewRequest("GET", path, nil)
		resp, err := edge.Do(req, "203.0.113.8:1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s through the tunnel = %d, want 404", path, resp.StatusCode)
		}
	}

	edge.DropSessions()
	waitFor(t, "reconnect", 20*time.Second, func() bool {
		code, a := deliver(fmt.Sprint("tunnel-2-", time.Now().UnixNano()))
		return code == 200 && a["status"] == "processed"
	})
	if got := tunnelOnlineURL(client); got != edge.URL() {
		t.Fatalf("after reconnect the tunnel reports %q", got)
	}
	// The SDK re-bound the same listener: the supervisor did not have to
	// start a new session.
	if l := logs(); strings.Contains(l, "tunnel session ended") || strings.Contains(l, "tunnel endpoint stopped") {
		t.Errorf("the supervisor restarted the tunnel instead of the SDK reconnecting:\n%s", l)
	}
	if edge.Binds() < 2 {
		t.Errorf("edge saw %d binds, want a re-bind after the drop", edge.Binds())
	}
	if n, _, _ := robaws.lastSecret(); n != "wh-1" {
		t.Errorf("the same public URL was registered again (%s)", n)
	}
	if l := logs(); strings.Contains(l, authtoken) || strings.Contains(l, secret) {
		t.Fatalf("logs contain the authtoken or the webhook secret:\n%s", l)
	}
}

// TestTunnelUnavailable checks that an unreachable edge and a refused token
// give a clear error within the deadline while the local API stays up.
func TestTunnelUnavailable(t *testing.T) {
	const authtoken = "refused-authtoken-0123456789"
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T) (connectURL, caFile string)
		wantLog string
	}{
		{"unreachable edge", func(t *testing.T) (string, string) {
			edge := tunneltest.NewEdge(t)
			return freeAddr(t), edge.CAFile()
		}, "connect timed out"},
		{"refused token", func(t *testing.T) (string, string) {
			edge := tunneltest.NewEdge(t)
			edge.SetRefuseAuth(true)
			return edge.ConnectURL(), edge.CAFile()
		}, "ERR_NGROK_105"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connectURL, caFile := tc.setup(t)
			adminAddr := freeAddr(t)
			start := time.Now()
			client, logs, _ := startDaemon(t, fmt.Sprintf(`data_dir: %q
receiver: {listen: %q}
admin: {listen: %q}
tunnel: {provider: ngrok, authtoken: %q, connect_url: %q, connect_ca_file: %q}
`, t.TempDir(), freeAddr(t), adminAddr, authtoken, connectURL, caFile), func(d *daemon) {
				d.tunnelConnectTimeout, d.tunnelBackoff = time.Second, 200*time.Millisecond
			})
			// The SDK logs the error itself before Listen returns it, so wait
			// for the supervisor's own line: it is written after health has
			// the error.
			waitFor(t, "the supervisor's tunnel error in the log", 5*time.Second, func() bool {
				for _, line := range strings.Split(logs(), "\n") {
					if strings.Contains(line, "tunnel unavailable") && strings.Contains(line, tc.wantLog) {
						return true
					}
				}
				return false
			})
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("error after %v, want within the 1s deadline (+ slack)", took)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			h, err := client.Health(ctx)
			if err != nil || h.Tunnel.Status != app.TunnelOffline || h.Tunnel.Provider != "ngrok" || h.Status != "degraded" {
				t.Fatalf("health = %+v (%v), want the API up with the tunnel offline", h, err)
			}
			// tunnel_offline carries the last error (redacted), and so does
			// the tunnel object.
			var offline *app.Problem
			for i := range h.Problems {
				if h.Problems[i].Code == app.ProblemTunnelOffline {
					offline = &h.Problems[i]
				}
			}
			if offline == nil || !strings.Contains(offline.Message, tc.wantLog) || h.Tunnel.Error == nil || strings.Contains(offline.Message, authtoken) {
				t.Fatalf("problems %+v, tunnel error %v: want tunnel_offline naming %q without the token", h.Problems, h.Tunnel.Error, tc.wantLog)
			}
			if strings.Contains(logs(), authtoken) {
				t.Fatalf("logs contain the authtoken:\n%s", logs())
			}
		})
	}
}

// TestTunnelErrorWhileConnecting: while the first connect is still within
// its deadline, the SDK already logs why each attempt fails; health says
// the same at once, not "no error" until the deadline passes.
func TestTunnelErrorWhileConnecting(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	adminAddr := freeAddr(t)
	client, logs, _ := startDaemon(t, fmt.Sprintf(`data_dir: %q
receiver: {listen: %q}
admin: {listen: %q}
tunnel: {provider: ngrok, authtoken: "connecting-authtoken-0123456789", connect_url: %q, connect_ca_file: %q}
`, t.TempDir(), freeAddr(t), adminAddr, freeAddr(t), edge.CAFile()), func(d *daemon) {
		// Listen would give up only after ten minutes.
		d.tunnelConnectTimeout = 10 * time.Minute
	})
	var h *app.Health
	waitFor(t, "health naming the failed connect attempt", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		h, err = client.Health(ctx)
		return err == nil && h.Tunnel.Error != nil
	})
	if strings.Contains(*h.Tunnel.Error, "timed out") || strings.Contains(logs(), "tunnel unavailable") {
		t.Fatalf("tunnel error %q: want the attempt's own error while Listen still connects", *h.Tunnel.Error)
	}
	found := false
	for _, p := range h.Problems {
		if p.Code == app.ProblemTunnelOffline {
			found = strings.Contains(p.Message, *h.Tunnel.Error) && !strings.Contains(p.Message, "no answer from ngrok yet")
		}
	}
	if !found {
		t.Fatalf("problems %+v: want tunnel_offline carrying %q", h.Problems, *h.Tunnel.Error)
	}
	t.Logf("tunnel error while connecting: %s", *h.Tunnel.Error)
}
