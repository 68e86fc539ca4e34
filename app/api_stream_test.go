package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
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
	events := make(chan store.Event, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev store.Event
				if json.Unmarshal([]byte(data), &ev) == nil {
					events <- ev
				}
			}
		}
		close(events)
	}()
	next := func(what string) store.Event {
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
		return store.Event{}
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *store.Event, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, store.LogFilter{ClientID: "99"}, func(ev *store.Event) error {
			got <- ev
			return nil
		})
	}()
	// Entries committed before the stream opens are not streamed (it starts
	// at "now"), so let it open first.
	time.Sleep(100 * time.Millisecond)
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
