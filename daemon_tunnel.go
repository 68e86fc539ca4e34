package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/tunnel"
)

// Tunnel states reported by /api/health and /metrics.
const (
	tunnelOnline   = app.TunnelOnline
	tunnelOffline  = app.TunnelOffline
	tunnelDisabled = app.TunnelDisabled
)

// tunnelState is the tunnel's current state, read by the local API.
type tunnelState struct {
	mu       sync.Mutex
	provider string // "ngrok" or "none"
	tun      *tunnel.Tunnel
	lastURL  string
}

// get returns provider, status and public URL.
func (s *tunnelState) get() (provider, status, url string) {
	if s == nil {
		return "none", tunnelDisabled, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != "ngrok" {
		return "none", tunnelDisabled, ""
	}
	if s.tun != nil && s.tun.Online() {
		return s.provider, tunnelOnline, s.tun.URL()
	}
	return s.provider, tunnelOffline, s.lastURL
}

func (s *tunnelState) set(t *tunnel.Tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tun = t
	if t != nil {
		s.lastURL = t.URL()
	}
}

// tunnelSupervisor keeps an ngrok endpoint serving the public receiver until
// ctx ends. Each session gets its own public app (a Fiber app serves one
// listener at a time safely); when a session dies it is closed and Listen is
// retried with backoff, while the rest of the daemon keeps serving locally.
type tunnelSupervisor struct {
	cfg       tunnel.Config
	newPublic func() *fiber.App
	state     *tunnelState
	logger    *slog.Logger
	// onURL is called (in the supervisor's goroutine) after each successful
	// connect with the public URL, e.g. to re-register webhooks.
	onURL func(ctx context.Context, url string)
	// backoff bounds; defaults 1s .. 60s.
	minBackoff, maxBackoff time.Duration
}

// run blocks until ctx ends. It returns nil after a clean shutdown.
func (s *tunnelSupervisor) run(ctx context.Context) error {
	backoff := s.minBackoff
	if backoff <= 0 {
		backoff = time.Second
	}
	maxBackoff := s.maxBackoff
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	for ctx.Err() == nil {
		tun, err := tunnel.Listen(ctx, s.cfg)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.logger.Error("tunnel unavailable; serving locally and retrying", "error", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = s.minBackoff
		if backoff <= 0 {
			backoff = time.Second
		}
		s.state.set(tun)
		if s.onURL != nil {
			s.onURL(ctx, tun.URL())
		}
		s.serve(ctx, tun)
	}
	return nil
}

// serve runs one session's public app until the session or ctx ends, then
// shuts the app down (which closes the tunnel and lets in-flight requests
// finish).
func (s *tunnelSupervisor) serve(ctx context.Context, tun *tunnel.Tunnel) {
	public := s.newPublic()
	served := make(chan error, 1)
	go func() { served <- public.Listener(tun) }()
	done := false
	select {
	case <-ctx.Done():
	case <-tun.Done():
		s.logger.Warn("tunnel session ended; reconnecting")
	case err := <-served:
		done = true
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.logger.Warn("tunnel endpoint stopped; reconnecting", "error", err)
		}
	}
	s.state.set(nil)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := public.ShutdownWithContext(sctx); err != nil {
		s.logger.Warn("tunnel receiver shutdown", "error", err)
	}
	tun.Close()
	if !done {
		select {
		case <-served:
		case <-sctx.Done():
		}
	}
}
