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

// `robaws-edge send-test`: sign test deliveries with an active secret of
// the endpoint and post them to the local receiver (or, with --public, to
// the tunnel URL). Client ids start with TEST- so no real customer is
// touched. In three steps: plan (where to, signed with what), send, report.

// testPlan is what send-test sends and where.
type testPlan struct {
	url      string // the receiver's base URL + the endpoint's path
	secret   string
	event    string
	clientID string
	count    int
	workers  int
	// cleanup removes the temporary secret send-test added, if any.
	cleanup func()
}

func cmdSendTest(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "send-test")
	configPath := configFlag(fs)
	endpoint := fs.String("endpoint", "customers", "endpoint to send to")
	p := testPlan{cleanup: func() {}}
	fs.StringVar(&p.event, "event", "client.updated", "event name")
	fs.StringVar(&p.clientID, "client-id", "TEST-1", "client id (must start with TEST-)")
	fs.IntVar(&p.count, "count", 1, "how many deliveries")
	fs.IntVar(&p.workers, "concurrency", 1, "how many at once")
	public := fs.Bool("public", false, "post to the tunnel's public URL instead of receiver.listen")
	asJSON := jsonFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	switch {
	case !strings.HasPrefix(p.clientID, "TEST-"):
		return usageError("invalid value %q for flag -client-id: must start with TEST-", p.clientID)
	case p.count < 1:
		return usageError("invalid value %d for flag -count: must be at least 1", p.count)
	case p.workers < 1:
		return usageError("invalid value %d for flag -concurrency: must be at least 1", p.workers)
	}
	if err := planSendTest(ctx, env, &p, *configPath, *endpoint, *public); err != nil {
		return err
	}
	defer p.cleanup()
	start := time.Now()
	run := p.send(ctx)
	return run.report(env, p.count, time.Since(start), *asJSON, p.clientID)
}

// planSendTest fills in where p goes (the local receiver, or with public
// the tunnel's URL, as the daemon's health tells it) and the secret it is
// signed with.
func planSendTest(ctx context.Context, env *cliEnv, p *testPlan, configPath, endpoint string, public bool) error {
	cfg, _, err := configs.Load(configPath)
	if err != nil {
		return ConfigError(err)
	}
	ep, ok := cfg.Endpoints[endpoint]
	if !ok {
		return usageError("invalid value %q for flag -endpoint: not in the config (have %s)", endpoint, strings.Join(cfg.EndpointNames(), ", "))
	}
	c, addr := app.NewClient(cfg.Admin.Listen, cfg.Admin.Token), cfg.Admin.Listen
	qctx, cancel := quick(ctx)
	health, err := c.Health(qctx)
	cancel()
	if err != nil {
		return apiError(err, addr)
	}
	base, err := testBase(health, cfg.Receiver.Listen, public)
	if err != nil {
		return err
	}
	p.url = base + ep.Path
	if len(ep.Secrets) > 0 {
		p.secret = ep.Secrets[0]
		return nil
	}
	return addTestSecret(ctx, env, p, c, addr, endpoint)
}

// testBase is the base URL send-test posts to: receiver.listen, or with
// public the tunnel's public URL.
func testBase(health *app.Health, receiverListen string, public bool) (string, error) {
	switch {
	case public && health.Tunnel.Provider == "none":
		// A proxy forwards, by choice: robaws-edge knows no public URL.
		return "", usageError("--public sends through the tunnel, and tunnel.provider is none: drop --public (deliveries go to receiver.listen, where your proxy forwards)")
	case public && (health.Tunnel.Status != app.TunnelOnline || health.Tunnel.PublicURL == nil || *health.Tunnel.PublicURL == ""):
		return "", fmt.Errorf("the tunnel is %s: no public URL to send to (set NGROK_AUTHTOKEN and restart, or drop --public)", health.Tunnel.Status)
	case public:
		return strings.TrimSuffix(*health.Tunnel.PublicURL, "/"), nil
	case receiverListen == "":
		return "", usageError("receiver.listen is empty: use --public to send through the tunnel")
	}
	return "http://" + receiverListen, nil
}

// addTestSecret signs p with a temporary secret added through the API, for
// an endpoint with no secret in the config (the CLI never sees stored
// secrets); p.cleanup removes it again.
func addTestSecret(ctx context.Context, env *cliEnv, p *testPlan, c *app.Client, addr, endpoint string) error {
	buf := make([]byte, 24)
	rand.Read(buf)
	p.secret = "send-test-" + hex.EncodeToString(buf)
	qctx, cancel := quick(ctx)
	w, err := c.CreateWebhook(qctx, app.CreateWebhookRequest{Endpoint: endpoint, Secret: p.secret, URL: "send-test"})
	cancel()
	if err != nil {
		return apiError(err, addr)
	}
	p.cleanup = func() {
		qctx, cancel := quick(context.WithoutCancel(ctx))
		defer cancel()
		// Removed, not only deactivated: it leaves no trace in the list.
		if _, err := c.PurgeWebhook(qctx, w.ID); err != nil {
			fmt.Fprintf(env.stderr, "robaws-edge: could not remove send-test's temporary secret %s: %v (remove it with: robaws-edge webhooks delete %s)\n", w.ID, apiError(err, addr), w.ID)
		}
	}
	return nil
}

// send posts p.count deliveries, p.workers at a time, until done or ctx
// ends.
func (p *testPlan) send(ctx context.Context) *testRun {
	run := newTestRun()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: p.workers}}
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range p.workers {
		wg.Go(func() {
			for i := range jobs {
				id := p.clientID
				if p.count > 1 {
					id = fmt.Sprintf("%s-%d", p.clientID, i%1000)
				}
				run.record(sendOne(ctx, client, p.url, p.secret, p.event, id, i))
			}
		})
	}
	for i := range p.count {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return run
}

// testResult is one send-test delivery's outcome.
type testResult struct {
	status  string // the receiver's status word, or "error"
	code    int
	logID   uint64
	err     string
	latency time.Duration
}

// sendOne signs and posts the i-th delivery and reads the receiver's
// answer (intake.Outcome, or {"error"} when refused).
func sendOne(ctx context.Context, client *http.Client, url, secret, event, clientID string, i int) testResult {
	id := make([]byte, 8)
	rand.Read(id)
	now := time.Now()
	body, err := json.Marshal(map[string]any{
		"id":    fmt.Sprintf("send-test-%x-%d", id, i),
		"event": event,
		"data": map[string]any{
			"id": clientID, "name": "Test customer " + clientID, "email": strings.ToLower(clientID) + "@example.invalid",
			"updatedAt": now.UTC().Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano),
		},
	})
	if err != nil {
		return testResult{status: "error", err: err.Error()}
	}
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
	r := testResult{code: resp.StatusCode}
	r.status, r.logID, r.err = readOutcome(resp)
	r.latency = time.Since(now)
	return r
}

// readOutcome reads the receiver's answer: its status word, log entry and
// error; "http CODE" for an answer without a status, and what was wrong
// with one that could not be read.
func readOutcome(resp *http.Response) (status string, logID uint64, errText string) {
	var a intake.Outcome
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err == nil {
		switch err = json.Unmarshal(data, &a); {
		case len(bytes.TrimSpace(data)) == 0:
			err = errors.New("empty answer")
		case err != nil:
			err = fmt.Errorf("answer is not JSON: %s", oneLine(string(data), 80))
		}
	}
	status, errText = a.Status, a.Error
	if status == "" {
		status = fmt.Sprint("http ", resp.StatusCode)
	}
	if err != nil && errText == "" {
		errText = err.Error()
	}
	return status, a.LogID, errText
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

// pct is the p-th percentile latency (r.lat sorted).
func (r *testRun) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, len(r.lat)*p/100)]
}

// report prints the run (one delivery: its outcome; more: throughput,
// latency and counts by status) and fails when a delivery was not
// accepted.
func (r *testRun) report(env *cliEnv, count int, elapsed time.Duration, asJSON bool, clientID string) error {
	slices.Sort(r.lat)
	switch {
	case asJSON:
		out := map[string]any{"sent": len(r.lat), "by_status": r.byStatus, "seconds": elapsed.Seconds(),
			"per_second": float64(len(r.lat)) / elapsed.Seconds(), "p50_ms": r.pct(50).Seconds() * 1000, "p99_ms": r.pct(99).Seconds() * 1000}
		if count == 1 && r.first != nil {
			out["log_id"], out["status"] = r.first.logID, r.first.status
		}
		if err := printJSON(env.stdout, out); err != nil {
			return err
		}
	case count == 1 && r.first != nil:
		fmt.Fprintf(env.stdout, "%s: log %d", r.first.status, r.first.logID)
		if r.first.err != "" {
			fmt.Fprintf(env.stdout, " (%s)", r.first.err)
		}
		fmt.Fprintln(env.stdout)
		if r.first.status == "processed" {
			fmt.Fprintf(env.stdout, "see it with: robaws-edge customers show %s\n", clientID)
		}
	default:
		fmt.Fprintf(env.stdout, "sent %d in %.2fs: %.0f deliveries/s, p50 %v, p99 %v\n", len(r.lat), elapsed.Seconds(),
			float64(len(r.lat))/elapsed.Seconds(), r.pct(50).Round(time.Microsecond), r.pct(99).Round(time.Microsecond))
		fmt.Fprintf(env.stdout, "by status: %s\n", counts(r.byStatus))
	}
	if ok := r.byStatus["processed"] + r.byStatus["duplicate"] + r.byStatus["stale"]; ok != len(r.lat) {
		msg := "some deliveries were not accepted"
		if r.first != nil && r.first.err != "" {
			msg += ": " + r.first.err
		}
		return errors.New(msg)
	}
	return nil
}
