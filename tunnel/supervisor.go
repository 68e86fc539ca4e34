package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jpillora/backoff"
)

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Tunnel is passed to Listen for every session. Required.
	Tunnel Config
	// Serve serves one session's listener until ctx is done, then shuts
	// down gracefully (letting in-flight requests finish under its own
	// deadline) and returns; it returns early when serving fails. It runs
	// in its own goroutine, once per session. Required.
	Serve func(ctx context.Context, ln net.Listener) error
	// OnURL keeps outside state (the Robaws registrations) pointing at a
	// session's public URL. It runs beside the serving endpoint, is retried
	// with backoff (5s doubling to 5 min) until it succeeds and runs again
	// every Recheck. Optional.
	OnURL func(ctx context.Context, url string) error
	// Logger receives the supervisor's lifecycle and errors. Required.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between connect attempts;
	// defaults 1s and 60s. A session that served less than StableAfter
	// (default 1 min) does not reset the backoff.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// Recheck is how often OnURL runs again after it succeeded; default 1h.
	Recheck time.Duration
}

// Supervisor keeps an ngrok endpoint serving until its Run's ctx ends: when
// a session dies it is closed and Listen is retried with backoff, while the
// rest of the process keeps serving locally. URL reports the state.
type Supervisor struct {
	cfg SupervisorConfig

	mu      sync.Mutex
	tun     *Tunnel // the current session, nil between sessions
	lastErr string  // why the last connect failed; "" once one succeeds
}

// NewSupervisor returns a supervisor; nothing connects before Run.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	return &Supervisor{cfg: cfg}
}

// URL returns the public URL of the session that is online now, or "".
// It is safe to call from any goroutine.
func (s *Supervisor) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tun == nil || !s.tun.Online() {
		return ""
	}
	return s.tun.URL()
}

// Err returns why the last connect attempt failed, or "" since one
// succeeded: an attempt's error as soon as the SDK reports it (while
// Listen still connects, or while a session reconnects), then Listen's own
// error when it gives up. It never holds the authtoken.
func (s *Supervisor) Err() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *Supervisor) set(t *Tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tun = t
	if t != nil {
		s.lastErr = ""
	}
}

func (s *Supervisor) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err.Error()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run connects, serves and reconnects until ctx ends; it returns once the
// last session has shut down.
func (s *Supervisor) Run(ctx context.Context) {
	b := &backoff.Backoff{Min: orDefault(s.cfg.MinBackoff, time.Second), Max: orDefault(s.cfg.MaxBackoff, time.Minute), Factor: 2}
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
	tcfg := s.cfg.Tunnel
	onError := tcfg.OnError
	tcfg.OnError = func(err error) {
		s.failed(err)
		if onError != nil {
			onError(err)
		}
	}
	for ctx.Err() == nil {
		tun, err := Listen(ctx, tcfg)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.failed(err)
			s.cfg.Logger.Error("tunnel unavailable; serving locally and retrying", "error", err, "retry_in", next.String())
			if !wait() {
				return
			}
			continue
		}
		started := time.Now()
		s.serve(ctx, tun)
		if time.Since(started) >= orDefault(s.cfg.StableAfter, time.Minute) {
			b.Reset()
			next = b.ForAttempt(0)
		} else if ctx.Err() == nil && !wait() {
			return
		}
	}
}

// serve runs one session until it or ctx ends, then stops Serve (which
// closes the tunnel's listener and lets in-flight requests finish) and
// closes the session.
func (s *Supervisor) serve(ctx context.Context, tun *Tunnel) {
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- s.cfg.Serve(serveCtx, tun) }()
	s.set(tun)

	// Registration talks to Robaws (slow, may fail): it must never delay
	// serving the URL Robaws is about to call.
	regCtx, stopReg := context.WithCancel(ctx)
	var regWG sync.WaitGroup
	if s.cfg.OnURL != nil {
		regWG.Go(func() { s.keepRegistered(regCtx, tun.URL()) })
	}

	done := false
	select {
	case <-ctx.Done():
	case <-tun.Done():
		s.cfg.Logger.Warn("tunnel session ended; reconnecting")
	case err := <-served:
		done = true
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.cfg.Logger.Warn("tunnel endpoint stopped; reconnecting", "error", err)
		}
	}
	stopReg()
	regWG.Wait()
	s.set(nil)
	stopServe()
	if !done {
		<-served
	}
	tun.Close()
}

// keepRegistered calls OnURL until it succeeds (backoff 5s doubling to
// 5 min), then again every Recheck, until ctx ends.
func (s *Supervisor) keepRegistered(ctx context.Context, url string) {
	b := &backoff.Backoff{Min: 5 * time.Second, Max: 5 * time.Minute, Factor: 2}
	for {
		next := orDefault(s.cfg.Recheck, time.Hour)
		if err := s.cfg.OnURL(ctx, url); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = b.Duration()
			s.cfg.Logger.Error("auto-registration failed; retrying", "url", url, "error", err, "retry_in", next.String())
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
