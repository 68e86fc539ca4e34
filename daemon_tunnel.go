package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jpillora/backoff"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/tunnel"
)

// tunnelState is the tunnel's current state, read by the local API.
type tunnelState struct {
	mu       sync.Mutex
	provider string // "ngrok" or "none"
	tun      *tunnel.Tunnel
}

// get returns provider, status and public URL.
func (s *tunnelState) get() (provider, status, url string) {
	if s == nil {
		return "none", app.TunnelDisabled, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != "ngrok" {
		return "none", app.TunnelDisabled, ""
	}
	if s.tun != nil && s.tun.Online() {
		return s.provider, app.TunnelOnline, s.tun.URL()
	}
	return s.provider, app.TunnelOffline, ""
}

func (s *tunnelState) set(t *tunnel.Tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tun = t
}

// tunnelSupervisor keeps an ngrok endpoint serving the public receiver until
// ctx ends. Each session gets its own public app (a Fiber app serves one
// listener at a time safely); when a session dies it is closed and Listen is
// retried with backoff, while the rest of the daemon keeps serving locally.
type tunnelSupervisor struct {
	cfg       tunnel.Config
	newPublic func() *fiber.App
	// conns caps the session's connections together with receiver.listen's
	// (nil: no cap).
	conns  *app.ConnLimiter
	state  *tunnelState
	logger *slog.Logger
	// onURL keeps outside state (the Robaws registrations) pointing at the
	// session's public URL. It runs beside the serving endpoint, is retried
	// with backoff until it succeeds and is re-checked every recheck.
	onURL func(ctx context.Context, url string) error
	// backoff bounds; defaults 1s .. 60s. A session that served less than
	// stableAfter (default 1 min) does not reset the backoff.
	minBackoff, maxBackoff, stableAfter time.Duration
	// recheck is how often a registered URL is checked again; default 1h.
	recheck time.Duration
	// shutdownTimeout bounds one session's shutdown; default 5s.
	shutdownTimeout time.Duration
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// run blocks until ctx ends. It returns nil after a clean shutdown.
func (s *tunnelSupervisor) run(ctx context.Context) error {
	b := &backoff.Backoff{Min: orDefault(s.minBackoff, time.Second), Max: orDefault(s.maxBackoff, time.Minute), Factor: 2}
	next := b.ForAttempt(0) // the wait before the next retry, as logged
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(b.Duration()):
		}
		next = b.ForAttempt(b.Attempt())
		return true
	}
	for ctx.Err() == nil {
		tun, err := tunnel.Listen(ctx, s.cfg)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.logger.Error("tunnel unavailable; serving locally and retrying", "error", err, "retry_in", next.String())
			if !wait() {
				return nil
			}
			continue
		}
		started := time.Now()
		s.serve(ctx, tun)
		if time.Since(started) >= orDefault(s.stableAfter, time.Minute) {
			b.Reset()
			next = b.ForAttempt(0)
		} else if ctx.Err() == nil && !wait() {
			return nil
		}
	}
	return nil
}

// serve runs one session's public app until the session or ctx ends, then
// shuts the app down (which closes the tunnel and lets in-flight requests
// finish).
func (s *tunnelSupervisor) serve(ctx context.Context, tun *tunnel.Tunnel) {
	public := s.newPublic()
	served := make(chan error, 1)
	go func() { served <- public.Listener(s.conns.Listener(tun)) }()
	s.state.set(tun)

	// Registration talks to Robaws (slow, may fail): it must never delay
	// serving the URL Robaws is about to call.
	regCtx, stopReg := context.WithCancel(ctx)
	var regWG sync.WaitGroup
	if s.onURL != nil {
		regWG.Go(func() { s.keepRegistered(regCtx, tun.URL()) })
	}

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
	stopReg()
	regWG.Wait()
	s.state.set(nil)
	sctx, cancel := context.WithTimeout(context.Background(), orDefault(s.shutdownTimeout, 5*time.Second))
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

// keepRegistered calls onURL until it succeeds (backoff 5s doubling to
// 5 min), then again every recheck, until ctx ends.
func (s *tunnelSupervisor) keepRegistered(ctx context.Context, url string) {
	b := &backoff.Backoff{Min: 5 * time.Second, Max: 5 * time.Minute, Factor: 2}
	for {
		next := orDefault(s.recheck, time.Hour)
		if err := s.onURL(ctx, url); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = b.Duration()
			s.logger.Error("auto-registration failed; retrying", "url", url, "error", err, "retry_in", next.String())
		} else {
			b.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}
