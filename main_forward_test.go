package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// daemonProcess is the built binary running `run --config config`,
// answering on adminAddr; Stop sends SIGTERM, Kill SIGKILL (and the test's
// end kills it). On a failure its log is printed.
type daemonProcess struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

func startProcess(t *testing.T, bin, config, adminAddr, token string) *daemonProcess {
	t.Helper()
	p := &daemonProcess{logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", config)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", p.logs.String())
		}
	})
	client := app.NewClient(adminAddr, token)
	waitFor(t, "the daemon's API", 60*time.Second, func() bool {
		select {
		case <-p.done:
			t.Fatalf("daemon exited:\n%s", p.logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := client.Health(ctx)
		var ae *app.APIError
		return err == nil || errors.As(err, &ae) // answering (a 401 is an answer too)
	})
	return p
}

func (p *daemonProcess) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

func (p *daemonProcess) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// deliverSigned posts body to the customers endpoint signed with secret and
// returns the status code.
func deliverSigned(t *testing.T, receiverAddr, path, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+receiverAddr+path, strings.NewReader(body))
	req.Header.Set("Robaws-Signature", intake.Sign(secret, time.Now().Unix(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func clientUpdated(eventID, clientID, name string, at time.Time) string {
	return fmt.Sprintf(`{"id":%q,"event":"client.updated","data":{"id":%q,"name":%q,"updatedAt":%q}}`, eventID, clientID, name, at.UTC().Format(time.RFC3339Nano))
}

func hasProblem(h *app.Health, code, text string) bool {
	for _, p := range h.Problems {
		if p.Code == code && strings.Contains(p.Message, text) {
			return true
		}
	}
	return false
}

// TestForwardEndToEnd runs the binary with an HTTP destination that is down
// while 300 deliveries arrive: every delivery is answered 200 at once,
// health names forward_behind with the target's answer; once the target is
// back, `forward resume` sends all 300 in log order, each verifying with
// the Standard Webhooks library. A rejected delivery replayed into
// processed goes then; failed, ignored, stale and test ones never. No
// secret of the destination shows anywhere.
func TestForwardEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	const secret, token = "forward-e2e-secret-0001", "forward-e2e-admin-token-0001"
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	target.SetAnswer(func(forwardtest.Request) int { return 503 })
	targetURL := strings.Replace(target.URL, "http://", "http://office:userinfo-secret-0001@", 1) + "/robaws?key=query-secret-0001"
	config, receiverAddr, adminAddr := daemonConfig(t, dir, token, secretYAML(secret)+fmt.Sprintf(`forward:
  office:
    kind: http
    url: %q
    secret: %q
    headers: {X-Api-Key: header-secret-0001}
    alert_after: 1s
`, targetURL, forwardtest.Secret))
	d := startProcess(t, bin, config, adminAddr, token)
	client := app.NewClient(adminAddr, token)
	const path = "/api/webhooks/robaws/customers"
	base := time.Now().Add(-time.Hour)

	// 300 deliveries from 8 senders while the target answers 503.
	var wg sync.WaitGroup
	codes := make([]int, 300)
	took := make([]time.Duration, 300)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 300; i += 8 {
				start := time.Now()
				codes[i] = deliverSigned(t, receiverAddr, path, secret, clientUpdated(fmt.Sprint("ev-", i), fmt.Sprint("C-", i%40), fmt.Sprint("Name ", i), base.Add(time.Duration(i)*time.Second)))
				took[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("delivery %d answered %d, want 200", i, c)
		}
	}
	t.Logf("300 deliveries with the target down: slowest answer %v", slices.Max(took))
	// Deliveries that are not forwarded: failed, ignored, stale, test.
	deliverSigned(t, receiverAddr, path, secret, `{"id":"bad-1","event":"client.updated","data":"not an object"}`)
	deliverSigned(t, receiverAddr, path, secret, `{"id":"ign-1","event":"client.deleted","data":{"id":"C-1"}}`)
	deliverSigned(t, receiverAddr, path, secret, clientUpdated("stale-1", "C-1", "Old", base.Add(-time.Hour)))
	deliverSigned(t, receiverAddr, path, secret, clientUpdated("test-1", "TEST-1", "Test", base))
	// One signed with a secret the daemon does not know yet: rejected.
	if c := deliverSigned(t, receiverAddr, path, "forward-later-secret-0001", clientUpdated("late-1", "C-1", "Late", time.Now())); c != 401 {
		t.Fatalf("unknown secret: %d, want 401", c)
	}

	var h *app.Health
	waitFor(t, "forward_behind naming the answer", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		h, err = client.Health(ctx)
		return err == nil && hasProblem(h, "forward_behind", "503 Service Unavailable")
	})
	if h.Status != "degraded" {
		t.Fatalf("health %s with forward_behind", h.Status)
	}
	cfg := []string{"--config", config}
	r := runCLI(t, bin, append([]string{"status"}, cfg...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "forward office") || !strings.Contains(r.stdout, "retrying since") || !strings.Contains(r.stdout, "forward_behind") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	target.SetAnswer(func(forwardtest.Request) int { return 200 })
	if r := runCLI(t, bin, append([]string{"forward", "resume", "office"}, cfg...)...); r.code != 0 {
		t.Fatalf("forward resume: %d %s%s", r.code, r.stdout, r.stderr)
	}
	reqs := target.WaitFor(t, "300 arrivals", 30*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 300
	})
	ids, _ := forwardtest.Distinct(reqs)
	logs, err := client.LogEntries(context.Background(), store.LogFilter{Status: store.StatusProcessed, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := len(logs.Items) - 1; i >= 0; i-- {
		if ev := logs.Items[i]; !ev.Test {
			want = append(want, "customers:"+ev.EventID)
		}
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("first arrivals are not in log order:\n got %v\nwant %v", ids[:10], want[:10])
	}
	for _, rq := range reqs {
		if rq.Verified != nil {
			t.Fatalf("%s does not verify: %v", rq.ID, rq.Verified)
		}
		if rq.Header.Get("X-Api-Key") != "header-secret-0001" {
			t.Fatalf("%s lacks the configured header", rq.ID)
		}
	}

	// The rejected one, replayed once its secret is known: forwarded now.
	ctx := context.Background()
	if _, err := client.CreateWebhook(ctx, app.CreateWebhookRequest{Endpoint: "customers", Secret: "forward-later-secret-0001"}); err != nil {
		t.Fatal(err)
	}
	if s, err := client.ReplayAll(ctx, store.StatusRejected); err != nil || s.Replayed != 1 {
		t.Fatalf("replay rejected: %+v %v", s, err)
	}
	reqs = target.WaitFor(t, "the replayed delivery", 10*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 301
	})
	ids, _ = forwardtest.Distinct(reqs)
	if ids[300] != "customers:late-1" {
		t.Fatalf("last arrival %s, want customers:late-1", ids[300])
	}
	for _, id := range ids {
		if strings.Contains(id, "bad-1") || strings.Contains(id, "ign-1") || strings.Contains(id, "stale-1") || strings.Contains(id, "test-1") {
			t.Fatalf("%s was forwarded", id)
		}
	}
	waitFor(t, "health ok again", 10*time.Second, func() bool {
		h, err := client.Health(ctx)
		return err == nil && !hasProblem(h, "forward_behind", "")
	})

	// No secret of the destination in the CLI, the API, the pages, the log.
	shown := r.stdout
	for _, args := range [][]string{{"forward", "list"}, {"forward", "list", "--json"}, {"forward", "attempts", "office"}, {"status", "--json"}} {
		r := runCLI(t, bin, append(args, cfg...)...)
		shown += r.stdout + r.stderr
	}
	if r := runCLI(t, bin, append([]string{"forward", "test", "office"}, cfg...)...); r.code != 0 || !strings.Contains(r.stdout, "test item test:") {
		t.Fatalf("forward test: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{"/api/forward", "/api/forward/office/attempts"} {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		shown += string(b)
	}
	d.Stop()
	shown += d.logs.String()
	for _, s := range []string{"userinfo-secret-0001", "query-secret-0001", "header-secret-0001", forwardtest.Secret, strings.TrimPrefix(forwardtest.Secret, "whsec_")} {
		if strings.Contains(shown, s) {
			t.Fatalf("%q shown in the CLI, API or log", s)
		}
	}
	if !strings.Contains(shown, target.Addr()+"/robaws") {
		t.Fatalf("the redacted target %s/robaws is not shown at all", target.Addr())
	}
}

// TestForwardSurvivesKill: SIGKILL while 1,000 deliveries are forwarded to
// an HTTP target and to JetStream; after a restart all 1,000 arrive at the
// target (a repeat only with an id it already had) and the stream holds
// exactly 1,000 messages.
func TestForwardSurvivesKill(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	const secret = "forward-kill-secret-0001"
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	target.SetAnswer(func(forwardtest.Request) int {
		time.Sleep(time.Millisecond) // an app that takes its time: the kill lands mid-stream
		return 200
	})
	_, natsURL := forwardtest.StartNATS(t, t.TempDir(), -1)
	config, receiverAddr, adminAddr := daemonConfig(t, dir, "", secretYAML(secret)+fmt.Sprintf(`forward:
  office: {kind: http, url: %q, secret: %q}
  central: {kind: nats, url: %q}
`, target.URL, forwardtest.Secret, natsURL))
	d := startProcess(t, bin, config, adminAddr, "")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 1000; i += 16 {
				// A customer each: none is stale, so all 1,000 are processed.
				body := clientUpdated(fmt.Sprint("k-", i), fmt.Sprint("C-", i), fmt.Sprint("N", i), time.Now())
				if c := deliverSigned(t, receiverAddr, "/api/webhooks/robaws/customers", secret, body); c != 200 {
					t.Errorf("delivery %d: %d", i, c)
				}
			}
		})
	}
	wg.Wait()
	target.WaitFor(t, "300 arrivals before the kill", 60*time.Second, func(r []forwardtest.Request) bool { return len(r) >= 300 })
	d.Kill()
	before := len(target.Requests())
	startProcess(t, bin, config, adminAddr, "")
	defer func() {
		if t.Failed() {
			list, err := app.NewClient(adminAddr, "").Forward(context.Background())
			t.Logf("forward status: %+v %v", list, err)
		}
	}()
	reqs := target.WaitFor(t, "all 1000", 60*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 1000
	})
	ids, repeats := forwardtest.Distinct(reqs)
	for _, id := range ids {
		if !strings.HasPrefix(id, "customers:k-") {
			t.Fatalf("unexpected id %s", id)
		}
	}
	t.Logf("killed after %d arrivals; %d repeats after the restart, each with an id already seen", before, repeats)

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, "1000 messages in the stream", 60*time.Second, func() bool {
		st, err := js.Stream(context.Background(), "ROBAWS")
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs >= 1000
	})
	st, _ := js.Stream(context.Background(), "ROBAWS")
	// Let a repeat that would duplicate show up before counting.
	client := app.NewClient(adminAddr, "")
	waitFor(t, "nothing pending", 30*time.Second, func() bool {
		list, err := client.Forward(context.Background())
		return err == nil && list[0].Pending == 0 && list[1].Pending == 0
	})
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1000 {
		t.Fatalf("the stream holds %d messages, want exactly 1000", info.State.Msgs)
	}
	seen := map[string]bool{}
	for seq := uint64(1); seq <= 1000; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		seen[m.Header.Get("Nats-Msg-Id")] = true
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct ids in the stream, want 1000", len(seen))
	}
}

// changeConsumer is an office app that applies the changes stream by SPEC
// §8's rule (a change whose customer.version is at least the held one
// replaces the record) and refuses some items for a while.
type changeConsumer struct {
	mu        sync.Mutex
	customers map[string]map[string]any
	versions  map[string]time.Time
	refuse    map[string]bool // item ids refused (422) while refusing is on
	refusing  bool
	bad       []string
}

func (c *changeConsumer) answer(r forwardtest.Request) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Verified != nil {
		c.bad = append(c.bad, r.ID+": "+r.Verified.Error())
		return 400
	}
	if c.refusing && c.refuse[r.ID] {
		return 422
	}
	var item struct {
		CustomerID string         `json:"customer_id"`
		Customer   map[string]any `json:"customer"`
	}
	if err := json.Unmarshal(r.Body, &item); err != nil || item.Customer == nil {
		c.bad = append(c.bad, r.ID+": not a change item")
		return 400
	}
	v, err := time.Parse(time.RFC3339Nano, fmt.Sprint(item.Customer["version"]))
	if err != nil {
		c.bad = append(c.bad, r.ID+": no version")
		return 400
	}
	if held, ok := c.versions[item.CustomerID]; !ok || !v.Before(held) {
		c.customers[item.CustomerID], c.versions[item.CustomerID] = item.Customer, v
	}
	return 200
}

// TestForwardChangesProperty: random webhooks (creates, updates, stale
// ones, duplicates, two endpoints, replays, a rejected one replayed) and a
// sync from the fake Robaws, with the target refusing some items, dead
// items re-sent and a restart in between: a consumer that applies the
// changes stream by the version rule ends with the same customers as
// GET /api/customers, every field.
func TestForwardChangesProperty(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	robawsAPI := newFakeRobaws(t)
	consumer := &changeConsumer{customers: map[string]map[string]any{}, versions: map[string]time.Time{}, refuse: map[string]bool{}, refusing: true}
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	target.SetAnswer(consumer.answer)
	receiverAddr, adminAddr := freeAddr(t), freeAddr(t)
	const secretA, secretB, lateSecret = "property-secret-a-0001", "property-secret-b-0001", "property-secret-late-01"
	yaml := fmt.Sprintf(`data_dir: %q
receiver: {listen: %q}
admin: {listen: %q}
tunnel: {provider: none}
endpoints:
  customers: {secrets: [%q]}
  customers2: {path: /api/webhooks/robaws/customers2, events: [client.created, client.updated], secrets: [%q], auto_register: false}
robaws: {base_url: %q, api_key: property-key, sync_interval: 0}
forward:
  app: {kind: http, url: %q, stream: changes, secret: %q, start: beginning}
`, dir, receiverAddr, adminAddr, secretA, secretB, robawsAPI.srv.URL, target.URL, forwardtest.Secret)
	client, _, stop := startDaemon(t, yaml, nil)
	ctx := context.Background()

	base := time.Now().Add(-48 * time.Hour)
	clock := 0
	next := func() time.Time { clock++; return base.Add(time.Duration(clock) * time.Second) }
	version := map[string]time.Time{}
	var sent []struct{ path, secret, body string }
	post := func(path, secret, body string) int {
		c := deliverSigned(t, receiverAddr, path, secret, body)
		sent = append(sent, struct{ path, secret, body string }{path, secret, body})
		return c
	}
	body := func(event, eventID, cid string, v time.Time, step int) string {
		return fmt.Sprintf(`{"id":%q,"event":%q,"data":{"id":%q,"name":"Name %d","email":"c%d@example.com","address":{"city":"City %d"},"extraFields":{"Role":{"stringValue":"role-%d"}},"updatedAt":%q}}`,
			eventID, event, cid, step, step, rng.IntN(5), rng.IntN(3), v.UTC().Format(time.RFC3339Nano))
	}
	const steps = 300
	for step := range steps {
		if step == steps/2 { // a restart in between
			stop()
			client, _, stop = startDaemon(t, yaml, nil)
		}
		cid := fmt.Sprint("P-", rng.IntN(25))
		path, secret := "/api/webhooks/robaws/customers", secretA
		if rng.IntN(4) == 0 {
			path, secret = "/api/webhooks/robaws/customers2", secretB
		}
		eventID := fmt.Sprint("pe-", step)
		switch op := rng.IntN(20); {
		case op < 12 || len(sent) == 0: // a create or an update that changes fields
			event := "client.updated"
			if _, ok := version[cid]; !ok {
				event = "client.created"
			}
			v := next()
			b := body(event, eventID, cid, v, step)
			if c := post(path, secret, b); c != 200 {
				t.Fatalf("step %d: %d", step, c)
			}
			version[cid] = v
			if rng.IntN(5) == 0 { // the same event to the other endpoint
				other, otherSecret := "/api/webhooks/robaws/customers2", secretB
				if path == other {
					other, otherSecret = "/api/webhooks/robaws/customers", secretA
				}
				post(other, otherSecret, b)
			}
		case op < 14: // a duplicate
			s := sent[rng.IntN(len(sent))]
			deliverSigned(t, receiverAddr, s.path, s.secret, s.body)
		case op < 16: // a stale update
			if v, ok := version[cid]; ok {
				post(path, secret, body("client.updated", eventID, cid, v.Add(-time.Minute), step))
			}
		case op < 18: // a replay of some earlier entry
			page, err := client.LogEntries(ctx, store.LogFilter{Limit: 50})
			if err != nil || len(page.Items) == 0 {
				continue
			}
			if _, err := client.Replay(ctx, page.Items[rng.IntN(len(page.Items))].ID); err != nil {
				t.Fatalf("replay: %v", err)
			}
		default: // signed with a secret the daemon learns later
			v := next()
			if c := post("/api/webhooks/robaws/customers", lateSecret, body("client.updated", eventID, cid, v, step)); c != 401 {
				t.Fatalf("late secret: %d", c)
			}
			version[cid] = v
		}
		if rng.IntN(10) == 0 {
			consumer.mu.Lock()
			consumer.refuse[fmt.Sprint("change:customers:", eventID)] = true
			consumer.refuse[fmt.Sprint("change:customers2:", eventID)] = true
			consumer.mu.Unlock()
		}
	}
	// The late secret arrives: its rejected deliveries are replayed.
	if _, err := client.CreateWebhook(ctx, app.CreateWebhookRequest{Endpoint: "customers", Secret: lateSecret}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReplayAll(ctx, store.StatusRejected); err != nil {
		t.Fatal(err)
	}
	// A sync: some customers changed at Robaws (newer), some older than a
	// webhook (stale), some new ones.
	robawsAPI.mu.Lock()
	for i := range 30 {
		cid := fmt.Sprint("P-", i)
		v := next()
		if old, ok := version[cid]; ok && i%3 == 0 {
			v = old.Add(-time.Second)
		} else {
			version[cid] = v
		}
		robawsAPI.clients = append(robawsAPI.clients, map[string]any{"id": cid, "name": fmt.Sprint("Synced ", i), "email": fmt.Sprintf("s%d@example.com", i), "updatedAt": v.UTC().Format(time.RFC3339Nano)})
	}
	robawsAPI.mu.Unlock()
	if _, err := client.StartSync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sync", 30*time.Second, func() bool {
		p, err := client.Sync(ctx)
		return err == nil && !p.Running && p.FinishedAt != nil
	})

	// Let the refusals run out (resume skips the waits), then fix the app
	// and resend what went dead.
	settle := func(what string, done func(forward.Status) bool) {
		waitFor(t, what, 60*time.Second, func() bool {
			list, err := client.Forward(ctx)
			if err != nil || len(list) != 1 {
				return false
			}
			if list[0].Status == "retrying" {
				client.ForwardPause(ctx, "app", false)
			}
			return done(list[0])
		})
	}
	settle("the refusals to end in dead items", func(s forward.Status) bool { return s.Pending == 0 })
	consumer.mu.Lock()
	consumer.refusing = false
	consumer.mu.Unlock()
	list, _ := client.Forward(ctx)
	t.Logf("%d items dead before the resend, %d delivered", list[0].Dead, list[0].Delivered)
	if list[0].Dead > 0 {
		if _, err := client.ForwardResend(ctx, "app", app.ResendRequest{Dead: true}); err != nil {
			t.Fatal(err)
		}
	}
	settle("everything delivered", func(s forward.Status) bool { return s.Pending == 0 && s.Dead == 0 })

	var want []*store.Customer
	cursor := ""
	for {
		page, err := client.Customers(ctx, store.CustomerFilter{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, page.Items...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	consumer.mu.Lock()
	defer consumer.mu.Unlock()
	if len(consumer.bad) > 0 {
		t.Fatalf("bad items: %v", consumer.bad)
	}
	if len(want) != len(consumer.customers) || len(want) == 0 {
		t.Fatalf("the consumer holds %d customers, the API %d", len(consumer.customers), len(want))
	}
	for _, c := range want {
		b, _ := json.Marshal(c)
		var api map[string]any
		json.Unmarshal(b, &api)
		if diff := cmp.Diff(api, consumer.customers[c.ID]); diff != "" {
			t.Errorf("customer %s (-API +consumer):\n%s", c.ID, diff)
		}
	}
}
