package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/configs"
)

// cmdSendTest is `send-test`: sign test deliveries with an active secret of
// the endpoint and post them to the local receiver (or, with --public, to
// the tunnel URL). Client ids start with TEST- so no real customer is
// touched.
func cmdSendTest(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "send-test")
	configPath := configFlag(fs)
	endpoint := fs.String("endpoint", "customers", "endpoint to send to")
	event := fs.String("event", "client.updated", "event name")
	clientID := fs.String("client-id", "TEST-1", "client id (must start with TEST-)")
	count := fs.Int("count", 1, "how many deliveries")
	concurrency := fs.Int("concurrency", 1, "how many at once")
	public := fs.Bool("public", false, "post to the tunnel's public URL instead of receiver.listen")
	asJSON := jsonFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(*clientID, "TEST-"):
		return usageError("invalid value %q for flag -client-id: must start with TEST-", *clientID)
	case *count < 1:
		return usageError("invalid value %d for flag -count: must be at least 1", *count)
	case *concurrency < 1:
		return usageError("invalid value %d for flag -concurrency: must be at least 1", *concurrency)
	}
	cfg, _, err := configs.Load(*configPath)
	if err != nil {
		return ConfigError(err)
	}
	ep, ok := cfg.Endpoints[*endpoint]
	if !ok {
		return usageError("invalid value %q for flag -endpoint: not in the config (have %s)", *endpoint, strings.Join(cfg.EndpointNames(), ", "))
	}
	c, addr := app.NewClient(cfg.Admin.Listen, cfg.Admin.Token), cfg.Admin.Listen
	qctx, cancel := quick(ctx)
	health, err := c.Health(qctx)
	cancel()
	if err != nil {
		return apiError(err, addr)
	}
	var base string
	switch {
	case *public:
		switch {
		case health.Tunnel.Provider == "none":
			// A proxy forwards, by choice: robaws-edge knows no public URL.
			return usageError("--public sends through the tunnel, and tunnel.provider is none: drop --public (deliveries go to receiver.listen, where your proxy forwards)")
		case health.Tunnel.Status != app.TunnelOnline || health.Tunnel.PublicURL == nil || *health.Tunnel.PublicURL == "":
			return fmt.Errorf("the tunnel is %s: no public URL to send to (set NGROK_AUTHTOKEN and restart, or drop --public)", health.Tunnel.Status)
		}
		base = strings.TrimSuffix(*health.Tunnel.PublicURL, "/")
	case cfg.Receiver.Listen == "":
		return usageError("receiver.listen is empty: use --public to send through the tunnel")
	default:
		base = "http://" + cfg.Receiver.Listen
	}

	// Sign with a config secret when the endpoint has one; otherwise add a
	// temporary secret through the API and deactivate it afterwards (the
	// CLI never sees stored secrets).
	secret := ""
	if len(ep.Secrets) > 0 {
		secret = ep.Secrets[0]
	} else {
		buf := make([]byte, 24)
		rand.Read(buf)
		secret = "send-test-" + hex.EncodeToString(buf)
		qctx, cancel := quick(ctx)
		w, err := c.CreateWebhook(qctx, app.CreateWebhookRequest{Endpoint: *endpoint, Secret: secret, URL: "send-test"})
		cancel()
		if err != nil {
			return apiError(err, addr)
		}
		defer func() {
			qctx, cancel := quick(context.WithoutCancel(ctx))
			defer cancel()
			// Removed, not only deactivated: it leaves no trace in the list.
			if _, err := c.PurgeWebhook(qctx, w.ID); err != nil {
				fmt.Fprintf(env.stderr, "robaws-edge: could not remove send-test's temporary secret %s: %v (remove it with: robaws-edge webhooks delete %s)\n", w.ID, apiError(err, addr), w.ID)
			}
		}()
	}

	url := base + ep.Path
	run := newTestRun()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range *concurrency {
		wg.Go(func() {
			for i := range jobs {
				id := *clientID
				if *count > 1 {
					id = fmt.Sprintf("%s-%d", *clientID, i%1000)
				}
				run.record(sendOne(ctx, client, url, secret, *event, id, i))
			}
		})
	}
	for i := range *count {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return run.report(env, *count, time.Since(start), *asJSON, *clientID)
}

// testResult is one send-test delivery's outcome.
type testResult struct {
	status  string // the receiver's status word, or "error"
	code    int
	logID   uint64
	err     string
	latency time.Duration
}

func sendOne(ctx context.Context, client *http.Client, url, secret, event, clientID string, i int) testResult {
	id := make([]byte, 8)
	rand.Read(id)
	now := time.Now()
	body, _ := json.Marshal(map[string]any{
		"id":    fmt.Sprintf("send-test-%x-%d", id, i),
		"event": event,
		"data": map[string]any{
			"id": clientID, "name": "Test customer " + clientID, "email": strings.ToLower(clientID) + "@example.invalid",
			"updatedAt": now.UTC().Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano),
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return testResult{status: "error", err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Robaws-Signature", intake.Sign(secret, now.Unix(), body))
	resp, err := client.Do(req)
	if err != nil {
		return testResult{status: "error", err: err.Error(), latency: time.Since(now)}
	}
	defer resp.Body.Close()
	var a struct {
		Status string `json:"status"`
		LogID  uint64 `json:"log_id"`
		Error  string `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	json.Unmarshal(data, &a)
	r := testResult{status: a.Status, code: resp.StatusCode, logID: a.LogID, err: a.Error, latency: time.Since(now)}
	if r.status == "" {
		r.status = fmt.Sprint("http ", resp.StatusCode)
	}
	return r
}

// testRun collects send-test results.
type testRun struct {
	mu       sync.Mutex
	byStatus map[string]int
	lat      []time.Duration
	first    *testResult
}

func newTestRun() *testRun { return &testRun{byStatus: map[string]int{}} }

func (r *testRun) record(res testResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byStatus[res.status]++
	r.lat = append(r.lat, res.latency)
	if r.first == nil || (r.first.status == "processed" && res.status != "processed") {
		r.first = &res
	}
}

func (r *testRun) report(env *cliEnv, count int, elapsed time.Duration, asJSON bool, clientID string) error {
	slices.Sort(r.lat)
	pct := func(p int) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, len(r.lat)*p/100)]
	}
	ok := r.byStatus["processed"] + r.byStatus["duplicate"] + r.byStatus["stale"]
	if asJSON {
		out := map[string]any{"sent": len(r.lat), "by_status": r.byStatus, "seconds": elapsed.Seconds(),
			"per_second": float64(len(r.lat)) / elapsed.Seconds(), "p50_ms": pct(50).Seconds() * 1000, "p99_ms": pct(99).Seconds() * 1000}
		if count == 1 && r.first != nil {
			out["log_id"], out["status"] = r.first.logID, r.first.status
		}
		if err := printJSON(env.stdout, out); err != nil {
			return err
		}
	} else if count == 1 && r.first != nil {
		fmt.Fprintf(env.stdout, "%s: log %d", r.first.status, r.first.logID)
		if r.first.err != "" {
			fmt.Fprintf(env.stdout, " (%s)", r.first.err)
		}
		fmt.Fprintln(env.stdout)
		if r.first.status == "processed" {
			fmt.Fprintf(env.stdout, "see it with: robaws-edge customers show %s\n", clientID)
		}
	} else {
		fmt.Fprintf(env.stdout, "sent %d in %.2fs: %.0f deliveries/s, p50 %v, p99 %v\n", len(r.lat), elapsed.Seconds(),
			float64(len(r.lat))/elapsed.Seconds(), pct(50).Round(time.Microsecond), pct(99).Round(time.Microsecond))
		fmt.Fprintf(env.stdout, "by status: %s\n", counts(r.byStatus))
	}
	if ok != len(r.lat) {
		msg := "some deliveries were not accepted"
		if r.first != nil && r.first.err != "" {
			msg += ": " + r.first.err
		}
		return errors.New(msg)
	}
	return nil
}
