package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestLogStream opens GET /api/webhook-logs/stream?status=processed on a
// real listener, then delivers: the processed entry arrives as an SSE data
// line, the rejected one is filtered out, a repeat comes as a change of the
// original; and shutting the app down ends the stream at once.
func TestLogStream(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := app.NewPublic(r, app.PublicConfig{})
	local := app.NewLocal(db, r, app.LocalConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go local.Listener(ln)
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/api/webhook-logs/stream?status=processed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan store.LogEntry, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev store.LogEntry
				if json.Unmarshal([]byte(data), &ev) == nil {
					events <- ev
				}
			}
		}
		close(events)
	}()
	next := func(what string) store.LogEntry {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: stream ended", what)
			}
			return ev
		case <-time.After(time.Second):
			t.Fatalf("%s: nothing within 1 s", what)
		}
		return store.LogEntry{}
	}

	now := time.Now()
	rejected := clientBody("ev-stream-0", "client.created", map[string]any{"id": "7", "name": "Wrong"})
	post(t, pub, "POST", customersPath, rejected, intake.Sign("not-the-secret", now.Unix(), rejected))
	body := clientBody("ev-stream-1", "client.created", map[string]any{"id": "7", "name": "Streamed"})
	a := post(t, pub, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body))
	ev := next("processed delivery")
	if ev.ID != a.LogID || ev.Status != "processed" || ev.EventID != "ev-stream-1" || ev.Deliveries != 1 {
		t.Fatalf("streamed %+v, want log entry %d processed (the rejected one filtered out)", ev, a.LogID)
	}
	post(t, pub, "POST", customersPath, body, intake.Sign(testSecret, now.Unix(), body))
	if ev := next("repeat"); ev.ID != a.LogID || ev.Deliveries != 2 {
		t.Fatalf("streamed %+v, want entry %d with 2 deliveries", ev, a.LogID)
	}

	if code, _ := do(t, local, "GET", "/api/webhook-logs/stream?status=done", "", nil); code != 400 {
		t.Fatalf("bad filter: got %d, want 400", code)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := local.ShutdownWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("shutdown with an open stream took %v", took)
	}
}

// TestClientFollow reads the stream through app.Client, as logs --follow
// does: a delivery posted after it starts arrives within a second.
func TestClientFollow(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := app.NewPublic(r, app.PublicConfig{})
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	c := app.NewClient(strings.TrimPrefix(base, "http://"), "")
	// Entries committed before the stream opens are not streamed (it starts
	// at "now"), so the delivery waits for the stream's answer to arrive:
	// the daemon sends it with the stream's first comment, after it joined
	// the log's followers.
	opened := make(chan struct{})
	c.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(req)
		close(opened)
		return resp, err
	})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *store.LogEntry, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, store.LogFilter{ClientID: "99"}, nil, func(ev *store.LogEntry) error {
			got <- ev
			return nil
		})
	}()
	select {
	case <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not open within 5 s")
	}
	body := clientBody("ev-follow", "client.created", map[string]any{"id": "99", "name": "Followed"})
	a := post(t, pub, "POST", customersPath, body, intake.Sign(testSecret, time.Now().Unix(), body))
	select {
	case ev := <-got:
		if ev.ID != a.LogID || ev.ClientID != "99" {
			t.Fatalf("followed %+v, want entry %d", ev, a.LogID)
		}
	case <-time.After(time.Second):
		t.Fatal("no entry within 1 s")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v, want context.Canceled", err)
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// openStream opens GET path on base and waits for the stream's first
// comment; it returns the response (200) or the refusal.
func openStream(t *testing.T, base, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	if resp.StatusCode == 200 {
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": robaws-edge log stream") {
			t.Fatalf("stream opened with %q, %v", line, err)
		}
	}
	return resp, br
}

// TestStreamFollowersCap: with admin.max_followers open streams (API and
// console together), one more is answered 503 at once with the JSON error
// naming the key; the intake keeps answering every delivery while they
// follow, each follower gets each entry; a closed follower's place is
// given back.
func TestStreamFollowersCap(t *testing.T) {
	const max = 4
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pubURL := serve(t, app.NewPublic(r, app.PublicConfig{}))
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{MaxFollowers: max}))

	var readers []*bufio.Reader
	var first *http.Response
	for i := range max {
		path := "/api/webhook-logs/stream"
		if i%2 == 1 {
			path = "/deliveries/stream"
		}
		resp, br := openStream(t, base, path)
		if resp.StatusCode != 200 {
			t.Fatalf("follower %d of %d: %d, want 200", i+1, max, resp.StatusCode)
		}
		if first == nil {
			first = resp
		}
		readers = append(readers, br)
	}
	for _, path := range []string{"/api/webhook-logs/stream", "/deliveries/stream"} {
		for range 20 {
			// A 503 with a body, not a stream: http.Get returns only when
			// the answer is complete, or when the client timeout fires.
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(base + path)
			if err != nil {
				t.Fatalf("follower beyond the cap: %v, want a 503 at once", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Fatalf("%s beyond the cap = %d, want 503", path, resp.StatusCode)
			}
			if path == "/api/webhook-logs/stream" && !strings.Contains(string(body), `{"error":"too many open log streams (admin.max_followers is 4)`) {
				t.Fatalf("503 body %s, want the JSON error naming admin.max_followers", body)
			}
		}
	}

	// The intake answers while they follow, and each follower reads
	// every entry once.
	const n = 50
	ids := map[uint64]bool{}
	for i := range n {
		body := clientBody(fmt.Sprint("ev-cap-", i), "client.created", map[string]any{"id": fmt.Sprint("cap-", i), "name": "Followed"})
		start := time.Now()
		id := send(t, pubURL, testSecret, body)
		if id == 0 {
			t.Fatalf("delivery %d not processed", i)
		}
		// Robaws' limit; a generous bound on a busy machine.
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("delivery %d answered after %v with %d followers", i, took, max)
		}
		ids[id] = true
	}
	for i, br := range readers {
		seen := map[uint64]bool{}
		for len(seen) < n {
			line, err := readLine(br, 10*time.Second)
			if err != nil {
				t.Fatalf("follower %d after %d entries: %v", i, len(seen), err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev store.LogEntry
				if err := json.Unmarshal([]byte(data), &ev); err != nil || !ids[ev.ID] || seen[ev.ID] {
					t.Fatalf("follower %d read %q (%v), want each new entry once", i, data, err)
				}
				seen[ev.ID] = true
			}
		}
	}

	// A follower that goes away gives its place back (noticed at its next
	// write: deliver until a new follower is let in).
	first.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		send(t, pubURL, testSecret, clientBody(fmt.Sprint("ev-cap-free-", i), "client.created", map[string]any{"id": "cap-free", "name": "Again"}))
		resp, err := http.Get(base + "/api/webhook-logs/stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place given back 20 s after a follower left: %d", resp.StatusCode)
		}
	}
}

// readLine reads one line within d.
func readLine(br *bufio.Reader, d time.Duration) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := br.ReadString('\n')
		ch <- result{strings.TrimSuffix(s, "\n"), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(d):
		return "", errors.New("nothing within " + d.String())
	}
}

// TestStreamShare: many followers and a burst of deliveries. Together the
// followers write no more than the fan-out budget, so one that cannot take
// every entry gets the newest ones and a "missed" note, never silence: each
// reads the last entry of the burst, and each that did not read them all
// was told.
func TestStreamShare(t *testing.T) {
	const followers, burst, senders = 200, 600, 8
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pubURL := serve(t, app.NewPublic(r, app.PublicConfig{}))
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{MaxFollowers: followers}))
	type tally struct {
		ids    map[uint64]bool
		missed bool
	}
	results := make([]chan tally, followers)
	last := make(chan uint64, 1)
	var readers []*bufio.Reader
	for range followers {
		resp, br := openStream(t, base, "/api/webhook-logs/stream")
		if resp.StatusCode != 200 {
			t.Fatalf("follower: %d", resp.StatusCode)
		}
		readers = append(readers, br)
	}
	for i, br := range readers {
		results[i] = make(chan tally, 1)
		go func() {
			tl := tally{ids: map[uint64]bool{}}
			defer func() { results[i] <- tl }()
			var want uint64
			for want == 0 || !tl.ids[want] {
				line, err := readLine(br, 20*time.Second)
				if err != nil {
					return
				}
				if strings.HasPrefix(line, ": some changes were missed") {
					tl.missed = true
				}
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					var ev store.LogEntry
					if json.Unmarshal([]byte(data), &ev) == nil {
						tl.ids[ev.ID] = true
					}
				}
				if want == 0 {
					select {
					case want = <-last:
						last <- want
					default:
					}
				}
			}
		}()
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var newest atomic.Uint64
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= burst; i = int(next.Add(1)) {
				body := clientBody(fmt.Sprint("ev-share-", i), "client.created", map[string]any{"id": fmt.Sprint("share-", i%50), "name": "Burst"})
				id := send(t, pubURL, testSecret, body)
				for {
					old := newest.Load()
					if id <= old || newest.CompareAndSwap(old, id) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	last <- newest.Load()
	someMissed := false
	for i, ch := range results {
		tl := <-ch
		if !tl.ids[newest.Load()] {
			t.Fatalf("follower %d never read the burst's last entry %d (read %d entries)", i, newest.Load(), len(tl.ids))
		}
		if len(tl.ids) < burst && !tl.missed {
			t.Fatalf("follower %d read %d of %d entries and was not told it missed some", i, len(tl.ids), burst)
		}
		someMissed = someMissed || tl.missed
	}
	if !someMissed {
		t.Fatalf("%d followers each read all %d entries of a burst: the fan-out has no budget", followers, burst)
	}
}
