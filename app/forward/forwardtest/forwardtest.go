// Package forwardtest holds the real peers of forwarding tests: an HTTP
// target that verifies every request with the Standard Webhooks library
// (the independent verifier, not our signing code) and answers as a test
// tells it, and an in-process NATS server with JetStream. Tests only: the
// binary never imports it.
package forwardtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Secret is a Standard Webhooks secret (32 bytes) for test destinations.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwVI3qJ/nMYDI="

// Request is one request the target received.
type Request struct {
	ID, Timestamp, Event, LogID string
	Header                      http.Header
	Body                        []byte
	// Verified is the Standard Webhooks library's verdict (nil: valid).
	Verified error
	// Status is what the target answered.
	Status int
}

// Target is an HTTP destination on a loopback listener.
type Target struct {
	URL string
	srv *httptest.Server
	wh  *standardwebhooks.Webhook

	mu     sync.Mutex
	answer func(Request) int
	reqs   []Request
	change chan struct{}
}

// NewTarget starts a target that verifies with secret and answers 200.
func NewTarget(tb testing.TB, secret string) *Target {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		tb.Fatal(err)
	}
	t := &Target{wh: wh, change: make(chan struct{}), answer: func(Request) int { return 200 }}
	t.srv = httptest.NewServer(http.HandlerFunc(t.serve))
	t.URL = t.srv.URL
	tb.Cleanup(t.srv.Close)
	return t
}

// Close stops the target's listener (a target that is down: connections
// are refused).
func (t *Target) Close() { t.srv.Close() }

// Addr is the target's host:port.
func (t *Target) Addr() string { return t.srv.Listener.Addr().String() }

// SetAnswer sets what the target answers; a status of 0 closes the
// connection without an answer.
func (t *Target) SetAnswer(fn func(Request) int) {
	t.mu.Lock()
	t.answer = fn
	t.mu.Unlock()
}

func (t *Target) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"), Event: r.Header.Get("robaws-event"),
		LogID: r.Header.Get("robaws-log-id"), Header: r.Header.Clone(), Body: body, Verified: t.wh.Verify(body, r.Header)}
	t.mu.Lock()
	req.Status = t.answer(req)
	t.reqs = append(t.reqs, req)
	close(t.change)
	t.change = make(chan struct{})
	t.mu.Unlock()
	if req.Status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		req.Status = 500
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(req.Status)
	io.WriteString(w, `{"answer":`+strconv.Itoa(req.Status)+`}`)
}

// Requests returns every request received so far.
func (t *Target) Requests() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Request(nil), t.reqs...)
}

// Accepted returns the requests answered 2xx, in arrival order.
func (t *Target) Accepted() []Request {
	var out []Request
	for _, r := range t.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

// WaitFor waits until cond holds of the requests so far, or fails after
// timeout.
func (t *Target) WaitFor(tb testing.TB, what string, timeout time.Duration, cond func([]Request) bool) []Request {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		reqs, change := append([]Request(nil), t.reqs...), t.change
		t.mu.Unlock()
		if cond(reqs) {
			return reqs
		}
		select {
		case <-change:
		case <-deadline.C:
			tb.Fatalf("timed out after %v waiting for %s (%d requests so far)", timeout, what, len(reqs))
		}
	}
}

// Distinct returns the ids of the accepted requests in first-arrival order,
// each once, and how many accepted requests were repeats.
func Distinct(reqs []Request) (ids []string, repeats int) {
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.Status < 200 || r.Status >= 300 {
			continue
		}
		if seen[r.ID] {
			repeats++
			continue
		}
		seen[r.ID] = true
		ids = append(ids, r.ID)
	}
	return ids, repeats
}

// StartNATS starts an in-process NATS server with JetStream storing in dir,
// on port (-1: any free port), and returns it with its client URL. Shut it
// down to play a broker outage; start it again on the same port and dir.
func StartNATS(tb testing.TB, dir string, port int) (*server.Server, string) {
	tb.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(ns.Shutdown)
	return ns, ns.ClientURL()
}

// Port is the port of a client URL such as nats://127.0.0.1:4222.
func Port(url string) int {
	_, p, _ := net.SplitHostPort(url[len("nats://"):])
	n, _ := strconv.Atoi(p)
	return n
}

// StreamMessages returns a func that counts the messages of a JetStream
// stream on the server at url (0 while the stream does not exist).
func StreamMessages(tb testing.TB, url, stream string) func() int {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return func() int {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0
		}
		return int(info.State.Msgs)
	}
}
