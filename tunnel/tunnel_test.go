package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.ngrok.com/ngrok/v2"

	"github.com/robaws-edge/robaws-edge/tunnel"
	"github.com/robaws-edge/robaws-edge/tunnel/tunneltest"
)

// token is distinctive so that a leak is easy to find in errors and logs.
const token = "2xTESTtokenDoNotLeak_9f8e7d6c5b4a"

// logBuffer collects log lines from any goroutine. The SDK keeps logging
// briefly after a test ends, so tests must not log to t.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// edgeConfig returns a Config for e that logs to logs.
func edgeConfig(e *tunneltest.Edge, logs *logBuffer) tunnel.Config {
	return tunnel.Config{
		Authtoken:      token,
		ConnectURL:     e.ConnectURL(),
		ConnectCAFile:  e.CAFile(),
		ConnectTimeout: 5 * time.Second,
		ClientName:     "robaws-edge-test",
		ClientVersion:  "0.0.0",
		Logger:         logs.logger(),
	}
}

// MustListen opens a tunnel through e; tb.Cleanup closes it.
func MustListen(tb testing.TB, cfg tunnel.Config) *tunnel.Tunnel {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tun, err := tunnel.Listen(ctx, cfg)
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	tb.Cleanup(func() { tun.Close() })
	return tun
}

// serve runs an http.Server with h on ln; tb.Cleanup closes it and waits.
func serve(tb testing.TB, ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("Serve: %v, want %v", err, http.ErrServerClosed)
		}
	})
	return srv
}

// remoteAddrHandler answers with the request's RemoteAddr.
var remoteAddrHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.RemoteAddr)
})

// get sends GET / through e from clientAddr and returns the status and body.
func get(tb testing.TB, e *tunneltest.Edge, clientAddr string) (int, string) {
	tb.Helper()
	resp, err := e.Do(httptest.NewRequest(http.MethodGet, "https://fake-edge.example/", nil), clientAddr)
	if err != nil {
		tb.Fatalf("Do: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			tb.Fatalf("after %s: still not %s", d, what)
		}
	}
}

func TestListenServesRequests(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	logs := &logBuffer{}
	tun := MustListen(t, edgeConfig(edge, logs))
	serve(t, tun, remoteAddrHandler)

	if got, want := tun.URL(), edge.URL(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if got, want := tun.Addr().String(), "fake-edge.example"; got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
	if !tun.Online() {
		t.Error("Online() = false after Listen, want true")
	}
	status, body := get(t, edge, "203.0.113.7")
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200", status)
	}
	if host, _, _ := net.SplitHostPort(body); host != "203.0.113.7" {
		t.Errorf("handler saw RemoteAddr %q, want host 203.0.113.7", body)
	}
	if got := edge.Binds(); got != 1 {
		t.Errorf("Binds() = %d, want 1", got)
	}
	if out := logs.String(); !strings.Contains(out, `msg="tunnel online"`) || !strings.Contains(out, "url="+edge.URL()) {
		t.Errorf("logs lack \"tunnel online\" with url:\n%s", out)
	}
}

func TestListenReservedURL(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	cfg := edgeConfig(edge, &logBuffer{})
	cfg.URL = "office-edge.example"
	tun := MustListen(t, cfg)
	if got, want := tun.URL(), "https://office-edge.example"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
}

func TestReconnectKeepsListener(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	logs := &logBuffer{}
	tun := MustListen(t, edgeConfig(edge, logs))
	serve(t, tun, remoteAddrHandler)

	// Refuse the reconnects until Online has been seen false, so the
	// offline window is not too short to observe.
	edge.SetRefuseAuth(true)
	edge.DropSessions()
	waitFor(t, 5*time.Second, "offline", func() bool { return !tun.Online() })
	edge.SetRefuseAuth(false)
	waitFor(t, 10*time.Second, "online again", tun.Online)

	select {
	case <-tun.Done():
		t.Fatal("Done() closed after a reconnect")
	default:
	}
	if status, body := get(t, edge, "198.51.100.20:4321"); status != http.StatusOK || body != "198.51.100.20:4321" {
		t.Errorf("after reconnect: status %d, body %q; want 200, %q", status, body, "198.51.100.20:4321")
	}
	if got := edge.Binds(); got != 2 {
		t.Errorf("Binds() = %d, want 2 (bind, re-bind)", got)
	}
	out := logs.String()
	if got := strings.Count(out, `msg="tunnel online"`); got != 2 {
		t.Errorf("%d \"tunnel online\" lines, want 2:\n%s", got, out)
	}
	if !strings.Contains(out, `level=WARN msg="tunnel offline"`) {
		t.Errorf("logs lack a WARN \"tunnel offline\":\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("logs contain the authtoken:\n%s", out)
	}
}

func TestListenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	logs := &logBuffer{}
	start := time.Now()
	_, err = tunnel.Listen(context.Background(), tunnel.Config{
		Authtoken:      token,
		ConnectURL:     addr,
		ConnectTimeout: time.Second,
		Logger:         logs.logger(),
	})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Listen succeeded, want an error")
	}
	if elapsed > 2*time.Second {
		t.Errorf("Listen took %s, want about 1s", elapsed)
	}
	msg := err.Error()
	if want := "ngrok: connect timed out after 1s: "; !strings.HasPrefix(msg, want) {
		t.Errorf("error %q, want prefix %q", msg, want)
	}
	if !strings.Contains(msg, addr) {
		t.Errorf("error %q does not name the address %s", msg, addr)
	}
	if strings.Contains(msg, token) || strings.Contains(logs.String(), token) {
		t.Errorf("authtoken leaked: error %q", msg)
	}
}

func TestListenRefusedToken(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	edge.SetRefuseAuth(true)
	logs := &logBuffer{}
	cfg := edgeConfig(edge, logs)
	cfg.ConnectTimeout = 10 * time.Second

	start := time.Now()
	_, err := tunnel.Listen(context.Background(), cfg)
	if err == nil {
		t.Fatal("Listen succeeded, want an error")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Listen took %s, want it to stop at the refusal", elapsed)
	}
	var nerr ngrok.Error
	if !errors.As(err, &nerr) || nerr.Code() != "ERR_NGROK_105" {
		t.Errorf("error %q: errors.As ngrok.Error gives code %v, want ERR_NGROK_105", err, nerr)
	}
	if msg := err.Error(); strings.Contains(msg, token) || !strings.Contains(msg, "[REDACTED]") {
		t.Errorf("error %q: want the authtoken replaced by [REDACTED]", msg)
	}
	if out := logs.String(); strings.Contains(out, token) {
		t.Errorf("logs contain the authtoken:\n%s", out)
	}
}

func TestListenCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = tunnel.Listen(ctx, tunnel.Config{Authtoken: token, ConnectURL: addr})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Listen = %v, want context.DeadlineExceeded", err)
	}
}

func TestListenConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  tunnel.Config
		want string
	}{
		{"no token", tunnel.Config{}, "ngrok: authtoken is required"},
		{"bad connect URL", tunnel.Config{Authtoken: token, ConnectURL: "localhost"}, `ngrok: connect URL "localhost"`},
		{"missing CA file", tunnel.Config{Authtoken: token, ConnectCAFile: t.TempDir() + "/none.pem"}, "ngrok: connect CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tunnel.Listen(context.Background(), tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Listen = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestClose(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	tun := MustListen(t, edgeConfig(edge, &logBuffer{}))

	accepted := make(chan error, 1)
	go func() {
		_, err := tun.Accept()
		accepted <- err
	}()
	if err := tun.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-tun.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done() not closed after Close")
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	if _, err := tun.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Accept = %v, want net.ErrClosed", err)
	}
	if err := tun.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if tun.Online() {
		t.Error("Online() = true after Close")
	}
	if got := edge.Unbinds(); got != 1 {
		t.Errorf("Unbinds() = %d, want 1", got)
	}
}

// TestShutdownDrains checks that an http.Server shutdown, which calls Close
// itself, lets an in-flight response through before the session ends.
func TestShutdownDrains(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	tun := MustListen(t, edgeConfig(edge, &logBuffer{}))
	entered, release := make(chan struct{}), make(chan struct{})
	srv := serve(t, tun, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "late")
	}))

	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := edge.Do(httptest.NewRequest(http.MethodGet, "/", nil), "203.0.113.7")
		got <- result{resp, err}
	}()
	<-entered
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	waitFor(t, 5*time.Second, "unbound", func() bool { return edge.Unbinds() == 1 })
	select {
	case <-tun.Done():
		t.Fatal("Done() closed while a response was in flight")
	default:
	}

	close(release)
	r := <-got
	if r.err != nil {
		t.Fatalf("Do: %v", r.err)
	}
	if body, _ := io.ReadAll(r.resp.Body); r.resp.StatusCode != http.StatusOK || string(body) != "late" {
		t.Errorf("in-flight response: %d %q, want 200 %q", r.resp.StatusCode, body, "late")
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case <-tun.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done() not closed after the last connection closed")
	}
}

// TestConnClosedDuringUnbind checks that the last connection closing while
// Close's Unbind is still in flight does not end the session under that
// request: the Unbind is answered, and only then does the session end.
func TestConnClosedDuringUnbind(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	logs := &logBuffer{}
	tun := MustListen(t, edgeConfig(edge, logs))

	sent := make(chan error, 1)
	go func() {
		_, err := edge.Do(httptest.NewRequest(http.MethodGet, "/", nil), "203.0.113.7")
		sent <- err
	}()
	c, err := tun.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	edge.HoldUnbinds()
	closed := make(chan struct{})
	go func() {
		tun.Close()
		close(closed)
	}()
	waitFor(t, 5*time.Second, "an Unbind held", func() bool { return edge.UnbindsHeld() == 1 })
	c.Close()
	select {
	case <-tun.Done():
		t.Fatal("Done() closed while the Unbind was in flight")
	default:
	}

	edge.ReleaseUnbinds()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still blocked after the Unbind was answered")
	}
	select {
	case <-tun.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done() not closed after the Unbind with no connection left")
	}
	if got := edge.Unbinds(); got != 1 {
		t.Errorf("Unbinds() = %d, want 1", got)
	}
	if out := logs.String(); strings.Contains(out, "unbind failed") {
		t.Errorf("logs report a failed Unbind:\n%s", out)
	}
	if err := <-sent; err == nil {
		t.Error("Do succeeded although the connection was closed unanswered")
	}
}
