package tunnel_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/tunnel"
	"github.com/robaws-edge/robaws-edge/tunnel/tunneltest"
)

// serveHTTP is a SupervisorConfig.Serve with remoteAddrHandler.
func serveHTTP(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: remoteAddrHandler, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served
	return err
}

// TestSupervisor: the supervisor serves through the edge, reports the URL,
// calls OnURL, retries a refused connect, and stops when ctx ends.
func TestSupervisor(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	logs := &logBuffer{}
	edge.SetRefuseAuth(true)
	var registered atomic.Value
	sup := tunnel.NewSupervisor(tunnel.SupervisorConfig{
		Tunnel: edgeConfig(edge, logs),
		Serve:  serveHTTP,
		OnURL: func(_ context.Context, url string) error {
			registered.Store(url)
			return nil
		},
		Logger:     logs.logger(),
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()

	waitFor(t, 5*time.Second, "a refused connect logged", func() bool {
		return strings.Contains(logs.String(), "tunnel unavailable; serving locally and retrying")
	})
	if got := sup.URL(); got != "" {
		t.Errorf("URL() = %q while refused, want \"\"", got)
	}
	edge.SetRefuseAuth(false)
	waitFor(t, 10*time.Second, "online", func() bool { return sup.URL() == edge.URL() })
	waitFor(t, 5*time.Second, "OnURL called", func() bool { return registered.Load() == edge.URL() })
	if status, body := get(t, edge, "203.0.113.9:1234"); status != http.StatusOK || body != "203.0.113.9:1234" {
		t.Errorf("status %d, body %q; want 200, %q", status, body, "203.0.113.9:1234")
	}

	// A dropped session is replaced by a new one.
	edge.DropSessions()
	waitFor(t, 10*time.Second, "a second bind", func() bool { return edge.Binds() >= 2 && sup.URL() != "" })

	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := sup.URL(); got != "" {
		t.Errorf("URL() = %q after Run, want \"\"", got)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs contain the authtoken:\n%s", logs.String())
	}
}

// TestSupervisorServeFails: a Serve that fails ends the session; the
// supervisor reconnects.
func TestSupervisorServeFails(t *testing.T) {
	edge := tunneltest.NewEdge(t)
	logs := &logBuffer{}
	var calls atomic.Int32
	sup := tunnel.NewSupervisor(tunnel.SupervisorConfig{
		Tunnel: edgeConfig(edge, logs),
		Serve: func(ctx context.Context, ln net.Listener) error {
			if calls.Add(1) == 1 {
				return errors.New("boom")
			}
			return serveHTTP(ctx, ln)
		},
		Logger:     logs.logger(),
		MinBackoff: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	waitFor(t, 10*time.Second, "a second session", func() bool { return calls.Load() >= 2 && sup.URL() != "" })
	if !strings.Contains(logs.String(), "tunnel endpoint stopped; reconnecting") {
		t.Errorf("logs lack the failed endpoint:\n%s", logs.String())
	}
	cancel()
	<-done
}
