package forward_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/store"
)

// fast is a retry schedule for tests: the same shape, in milliseconds.
var fast = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}

func openDB(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// ingest stores n processed deliveries e<from>…, each updating customer
// C<i%7>, and returns their log ids.
func ingest(t *testing.T, db *store.DB, from, n int) []uint64 {
	t.Helper()
	base := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	var ids []uint64
	for i := from; i < from+n; i++ {
		cid := fmt.Sprint("C", i%7)
		c := &store.Customer{ID: cid, Name: fmt.Sprint("Name ", i), Currency: "EUR", IsActive: true, Version: base.Add(time.Duration(i) * time.Second)}
		res, err := db.Ingest(context.Background(), &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("e", i),
			ClientID: cid, Record: customerRecord(c), Payload: fmt.Appendf(nil, `{"id":"e%d","event":"client.updated","data":{"id":%q}}`, i, cid)})
		if err != nil || res.Status != store.StatusProcessed {
			t.Fatalf("ingest e%d: %+v %v", i, res, err)
		}
		ids = append(ids, res.LogID)
	}
	return ids
}

// run starts a forwarder over db; the returned func stops it (also at the
// test's end).
func run(t *testing.T, db *store.DB, logs *strings.Builder, dests ...forward.Destination) (*forward.Forwarder, func()) {
	t.Helper()
	var mu sync.Mutex
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, b: logs}, nil))
	}
	f, err := forward.New(db, forward.Config{Destinations: dests, Version: "test", Schedule: fast, SaveEvery: 10 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// As the daemon does: before anything arrives, so "start: now" is now.
	if err := f.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f, stop
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func httpDest(name, url string) forward.Destination {
	return forward.Destination{Name: name, Kind: forward.KindHTTP, URL: url, Stream: store.StreamEvents, Secret: forwardtest.Secret, Timeout: 2 * time.Second}
}

func waitStatus(t *testing.T, f *forward.Forwarder, name, what string, cond func(forward.Status) bool) forward.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := f.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantIDs(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprint("customers:e", i))
	}
	return out
}

// TestDownThenBack: a target that answers 503 loses nothing; once it
// answers again (and resume skips the wait) every item arrives, in log
// order, each verifying with the Standard Webhooks library.
func TestDownThenBack(t *testing.T) {
	db, _ := openDB(t)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	target.SetAnswer(func(forwardtest.Request) int { return 503 })
	f, _ := run(t, db, nil, httpDest("office", target.URL))
	logIDs := ingest(t, db, 0, 50)
	s := waitStatus(t, f, "office", "retrying with 50 pending", func(s forward.Status) bool {
		return s.Status == "retrying" && s.Pending == 50 && s.LastError != nil
	})
	if *s.LastError != "503 Service Unavailable" || s.OldestPendingAt == nil || s.RetryingSince == nil || s.Delivered != 0 {
		t.Fatalf("status while down = %+v", s)
	}
	target.SetAnswer(func(forwardtest.Request) int { return 204 })
	if err := f.Resume(context.Background(), "office"); err != nil {
		t.Fatal(err)
	}
	reqs := target.WaitFor(t, "50 accepted", 20*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 50
	})
	ids, _ := forwardtest.Distinct(reqs)
	if !slices.Equal(ids, wantIDs(0, 50)) {
		t.Fatalf("arrival order = %v", ids)
	}
	for _, r := range reqs {
		if r.Verified != nil {
			t.Fatalf("request %s does not verify: %v", r.ID, r.Verified)
		}
	}
	acc := target.Accepted()
	var body struct{ ID string }
	if err := json.Unmarshal(acc[0].Body, &body); err != nil || body.ID != "e0" || acc[0].LogID != fmt.Sprint(logIDs[0]) ||
		acc[0].Event != "client.updated" || acc[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("first item: %+v body %s", acc[0], acc[0].Body)
	}
	s = waitStatus(t, f, "office", "caught up", func(s forward.Status) bool { return s.Pending == 0 && s.Delivered == 50 })
	if s.Status != "ok" || s.LastError != nil || s.OldestPendingAt != nil || s.LastSuccessAt == nil {
		t.Fatalf("status after = %+v", s)
	}
	atts, _ := f.Attempts("office")
	if n := len(target.Requests()); len(atts) != min(n, 100) || atts[0].StatusCode != 204 || n <= 100 && atts[len(atts)-1].StatusCode != 503 {
		t.Fatalf("attempts: %d kept of %d, newest %+v, oldest %+v", len(atts), n, atts[0], atts[len(atts)-1])
	}
}

// TestRefusedGoesDead: three refusals set one item aside; the items behind
// it arrive; a resend after the fix delivers it and empties the dead list.
func TestRefusedGoesDead(t *testing.T) {
	db, _ := openDB(t)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	var fixed sync.Map
	target.SetAnswer(func(r forwardtest.Request) int {
		if _, ok := fixed.Load("yes"); r.ID == "customers:e3" && !ok {
			return 422
		}
		return 200
	})
	f, _ := run(t, db, nil, httpDest("office", target.URL))
	ingest(t, db, 0, 10)
	target.WaitFor(t, "the 9 others", 20*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 9
	})
	s := waitStatus(t, f, "office", "one dead", func(s forward.Status) bool { return s.Dead == 1 && s.Pending == 0 })
	refusals := 0
	for _, r := range target.Requests() {
		if r.ID == "customers:e3" {
			refusals++
		}
	}
	if refusals != 3 {
		t.Fatalf("e3 was tried %d times, want 3", refusals)
	}
	dead, err := f.Dead(context.Background(), "office")
	if err != nil || len(dead) != 1 || dead[0].ItemID != "customers:e3" || dead[0].LastStatusCode != 422 || dead[0].Attempts != 3 ||
		dead[0].LastError != "422 Unprocessable Entity" || dead[0].LogID == nil {
		t.Fatalf("dead = %+v, %v", dead, err)
	}
	ids, _ := forwardtest.Distinct(target.Requests())
	if want := slices.Delete(wantIDs(0, 10), 3, 4); !slices.Equal(ids, want) {
		t.Fatalf("accepted = %v, want %v", ids, want)
	}
	fixed.Store("yes", true)
	if n, err := f.Resend(context.Background(), "office", forward.ResendRequest{Dead: true}); err != nil || n != 1 {
		t.Fatalf("resend dead = %d, %v", n, err)
	}
	target.WaitFor(t, "e3 at last", 10*time.Second, func(r []forwardtest.Request) bool {
		ids, _ := forwardtest.Distinct(r)
		return len(ids) == 10 && ids[9] == "customers:e3"
	})
	s = waitStatus(t, f, "office", "no dead", func(s forward.Status) bool { return s.Dead == 0 && s.Pending == 0 })
	if dead, _ := f.Dead(context.Background(), "office"); len(dead) != 0 || s.Delivered != 10 {
		t.Fatalf("after resend: dead %v, status %+v", dead, s)
	}
	// Resend by id and by filter: after what is pending, same ids.
	if n, err := f.Resend(context.Background(), "office", forward.ResendRequest{IDs: []string{"customers:e1"}, ClientID: "C2"}); err != nil || n != 3 {
		t.Fatalf("resend e1 + C2 = %d, %v; want 3 (e1, e2, e9)", n, err)
	}
	target.WaitFor(t, "3 repeats", 10*time.Second, func(r []forwardtest.Request) bool {
		_, repeats := forwardtest.Distinct(r)
		return repeats == 3
	})
	if _, err := f.Resend(context.Background(), "office", forward.ResendRequest{IDs: []string{"customers:nope"}}); err == nil || !strings.Contains(err.Error(), `unknown item "customers:nope"`) {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestMisconfiguredNeverDead: 401 and 404 to everything for a while set
// nothing aside; the last answer says which; all arrive once fixed.
func TestMisconfiguredNeverDead(t *testing.T) {
	for _, code := range []int{401, 404, 302} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			db, _ := openDB(t)
			target := forwardtest.NewTarget(t, forwardtest.Secret)
			target.SetAnswer(func(forwardtest.Request) int { return code })
			f, _ := run(t, db, nil, httpDest("office", target.URL))
			ingest(t, db, 0, 5)
			target.WaitFor(t, "8 attempts", 20*time.Second, func(r []forwardtest.Request) bool { return len(r) >= 8 })
			s, _ := f.Status("office")
			if s.Dead != 0 || s.Pending != 5 || s.LastError == nil || !strings.HasPrefix(*s.LastError, fmt.Sprint(code)) {
				t.Fatalf("status = %+v", s)
			}
			for _, r := range target.Requests() {
				if r.ID != "customers:e0" {
					t.Fatalf("item %s tried while e0 waits", r.ID)
				}
			}
			target.SetAnswer(func(forwardtest.Request) int { return 200 })
			f.Resume(context.Background(), "office")
			target.WaitFor(t, "all 5", 10*time.Second, func(r []forwardtest.Request) bool {
				ids, _ := forwardtest.Distinct(r)
				return slices.Equal(ids, wantIDs(0, 5))
			})
		})
	}
}

// TestPauseAndRestart: a pause survives a restart; the cursor too, so a
// restart repeats nothing that was saved.
func TestPauseAndRestart(t *testing.T) {
	db, _ := openDB(t)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	f, stop := run(t, db, nil, httpDest("office", target.URL))
	ingest(t, db, 0, 5)
	target.WaitFor(t, "5", 10*time.Second, func(r []forwardtest.Request) bool { return len(r) == 5 })
	if err := f.Pause(context.Background(), "office"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, f, "office", "paused", func(s forward.Status) bool { return s.Status == "paused" })
	stop()
	f, _ = run(t, db, nil, httpDest("office", target.URL))
	ingest(t, db, 5, 3)
	s := waitStatus(t, f, "office", "3 pending while paused", func(s forward.Status) bool { return s.Pending == 3 })
	if s.Status != "paused" || len(target.Requests()) != 5 {
		t.Fatalf("after restart: %+v, %d requests", s, len(target.Requests()))
	}
	if err := f.Resume(context.Background(), "office"); err != nil {
		t.Fatal(err)
	}
	reqs := target.WaitFor(t, "8", 10*time.Second, func(r []forwardtest.Request) bool { return len(r) == 8 })
	if ids, repeats := forwardtest.Distinct(reqs); repeats != 0 || !slices.Equal(ids, wantIDs(0, 8)) {
		t.Fatalf("ids %v, %d repeats", ids, repeats)
	}
	// A destination added later starts now: it gets nothing old.
	f2, _ := run(t, db, nil, httpDest("office", target.URL), httpDest("late", target.URL))
	if s, _ := f2.Status("late"); s.Pending != 0 {
		t.Fatalf("late destination pending = %d, want 0", s.Pending)
	}
}

// TestTestItemAndRedaction: the test item is signed like the others; a
// target's userinfo and query string never appear in its status, attempts
// or log lines.
func TestTestItemAndRedaction(t *testing.T) {
	db, _ := openDB(t)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	var logs strings.Builder
	u := strings.Replace(target.URL, "http://", "http://admin:hunter2secret@", 1) + "/hook?api_key=qs-secret-value"
	d := httpDest("office", u)
	d.Headers = map[string]string{"X-Api-Key": "header-secret-value"}
	f, _ := run(t, db, &logs, d)
	a, err := f.Test(context.Background(), "office")
	if err != nil || a.StatusCode != 200 || a.Error != nil || !strings.HasPrefix(a.ItemID, "test:") {
		t.Fatalf("test = %+v, %v", a, err)
	}
	reqs := target.Requests()
	if len(reqs) != 1 || reqs[0].Verified != nil || reqs[0].Event != "robaws-edge.test" || reqs[0].Header.Get("X-Api-Key") != "header-secret-value" {
		t.Fatalf("test request: %+v", reqs)
	}
	target.Close() // now down: connection refused
	ingest(t, db, 0, 1)
	s := waitStatus(t, f, "office", "retrying", func(s forward.Status) bool { return s.Status == "retrying" })
	atts, _ := f.Attempts("office")
	shown := fmt.Sprintf("%+v %+v %s %s", s, atts, *s.LastError, logs.String())
	for _, secret := range []string{"hunter2secret", "qs-secret-value", "header-secret-value", forwardtest.Secret} {
		if strings.Contains(shown, secret) {
			t.Fatalf("%q shown:\n%s", secret, shown)
		}
	}
	if !strings.Contains(s.Target, "/hook") || strings.Contains(s.Target, "admin") || !strings.Contains(*s.LastError, "connection refused") {
		t.Fatalf("target %q, last error %q", s.Target, *s.LastError)
	}
}

// TestEchoingTargetRedacted: a target that echoes its request in a
// refusal (a debugging endpoint does) shows the attempt's excerpt with our
// header values, signature, userinfo and query string taken out, the
// userinfo also as the Basic Authorization header Go's client makes of it.
func TestEchoingTargetRedacted(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("admin:hunter2secret"))
	for name, headers := range map[string]map[string]string{
		"authorization header": {"Authorization": "Bearer header-secret-value"},
		"basic from userinfo":  {"X-Api-Key": "header-secret-value"},
	} {
		t.Run(name, func(t *testing.T) {
			db, _ := openDB(t)
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintf(w, "%s %s\n", r.Method, r.URL.String())
				r.Header.Write(w)
			}))
			t.Cleanup(echo.Close)
			u := strings.Replace(echo.URL, "http://", "http://admin:hunter2secret@", 1) + "/hook?api_key=qs-secret-value"
			d := httpDest("office", u)
			d.Headers = headers
			f, _ := run(t, db, nil, d)
			ingest(t, db, 0, 1)
			waitStatus(t, f, "office", "an attempt", func(s forward.Status) bool { return s.LastError != nil })
			atts, err := f.Attempts("office")
			if err != nil || len(atts) == 0 {
				t.Fatalf("attempts = %+v, %v", atts, err)
			}
			ex := atts[len(atts)-1].ResponseExcerpt
			if !strings.Contains(ex, "Webhook-Id: customers:e0") || !strings.Contains(ex, "[redacted]") {
				t.Fatalf("excerpt does not show the echo:\n%s", ex)
			}
			for _, secret := range []string{"hunter2secret", "qs-secret-value", "header-secret-value", "v1,", basic} {
				if strings.Contains(ex, secret) {
					t.Fatalf("%q in the excerpt:\n%s", secret, ex)
				}
			}
		})
	}
}

// TestNATSOutage: items go to JetStream with Nats-Msg-Id = their id; the
// server stopped for 10 s and started again loses nothing, and repeats are
// dropped by the stream.
func TestNATSOutage(t *testing.T) {
	db, _ := openDB(t)
	dir := t.TempDir()
	ns, url := forwardtest.StartNATS(t, dir, -1)
	d := forward.Destination{Name: "central", Kind: forward.KindNATS, URL: url, Stream: store.StreamEvents,
		Subject: "robaws.{endpoint}.{event}", NATSStream: "ROBAWS", Timeout: time.Second}
	f, _ := run(t, db, nil, d)
	ingest(t, db, 0, 100)
	waitStatus(t, f, "central", "100 delivered", func(s forward.Status) bool { return s.Delivered == 100 })
	ns.Shutdown()
	ns.WaitForShutdown()
	ingest(t, db, 100, 100)
	waitStatus(t, f, "central", "retrying while the server is down", func(s forward.Status) bool { return s.Status == "retrying" && s.Pending == 100 })
	time.Sleep(10 * time.Second) // the outage the issue asks for
	if s, _ := f.Status("central"); s.Delivered != 100 || s.LastError == nil {
		t.Fatalf("during the outage: %+v", s)
	}
	forwardtest.StartNATS(t, dir, forwardtest.Port(url))
	f.Resume(context.Background(), "central")
	waitStatus(t, f, "central", "200 delivered", func(s forward.Status) bool { return s.Delivered == 200 && s.Pending == 0 })

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "ROBAWS")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 200 || info.Config.Duplicates != 2*time.Hour || info.Config.Storage != jetstream.FileStorage || info.Config.Subjects[0] != "robaws.>" {
		t.Fatalf("stream: %d messages, config %+v", info.State.Msgs, info.Config)
	}
	for seq := uint64(1); seq <= 200; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("customers:e", seq-1); m.Header.Get("Nats-Msg-Id") != want || m.Subject != "robaws.customers.client.updated" {
			t.Fatalf("message %d: id %q subject %q, want %q", seq, m.Header.Get("Nats-Msg-Id"), m.Subject, want)
		}
	}
	// A resend publishes the same ids: the stream keeps one of each.
	if n, err := f.Resend(context.Background(), "central", forward.ResendRequest{IDs: []string{"customers:e5", "customers:e150"}}); err != nil || n != 2 {
		t.Fatalf("resend = %d, %v", n, err)
	}
	waitStatus(t, f, "central", "resent", func(s forward.Status) bool { return s.Delivered == 202 })
	if info, _ := st.Info(context.Background()); info.State.Msgs != 200 {
		t.Fatalf("after a resend: %d messages, want 200", info.State.Msgs)
	}
}

// TestNATSDownAtStart: a server that is not there is a retrying
// destination, not a start failure.
func TestNATSDownAtStart(t *testing.T) {
	db, _ := openDB(t)
	d := forward.Destination{Name: "central", Kind: forward.KindNATS, URL: "nats://127.0.0.1:1", Stream: store.StreamEvents, Timeout: 200 * time.Millisecond}
	f, _ := run(t, db, nil, d)
	ingest(t, db, 0, 1)
	s := waitStatus(t, f, "central", "retrying", func(s forward.Status) bool { return s.Status == "retrying" && s.LastError != nil })
	if s.Delivered != 0 || s.Dead != 0 {
		t.Fatalf("status = %+v", s)
	}
}

// TestGiveWay: while deliveries keep arriving a destination waits, but an
// item is never held past MaxDefer, so a long burst does not starve it.
func TestGiveWay(t *testing.T) {
	db, _ := openDB(t)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	f, err := forward.New(db, forward.Config{Destinations: []forward.Destination{httpDest("office", target.URL)},
		Quiet: time.Second, MaxDefer: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.Init(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// A burst of 3 s, a delivery every 20 ms: busy all along (Quiet 1 s).
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		ingest(t, db, i, 1)
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(target.Requests()); n == 0 {
		t.Fatal("nothing forwarded during a 3 s burst: an item was held past MaxDefer")
	}
}

// customerRecord prepares c as the receiver does before Ingest.
func customerRecord(c *store.Customer) *store.Record {
	r, err := store.PrepareCustomer(c)
	if err != nil {
		panic(err)
	}
	return r
}
