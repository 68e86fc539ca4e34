//go:build unix

package service

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestRunReturnsOwnError checks that Run does not sit waiting for a signal
// when the run function fails on its own.
func TestRunReturnsOwnError(t *testing.T) {
	errFatal := errors.New("bolt: timeout")
	done := make(chan error, 1)
	go func() {
		done <- Run(Config{Logger: discard()}, func(ctx context.Context) error { return errFatal })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errFatal) {
			t.Fatalf("Run = %v, want %v", err, errFatal)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return within 1s after the run function failed")
	}
}

// TestRunStopsOnSIGTERM sends SIGTERM to the test process. The test's own
// signal.Notify keeps the default action (exit) away for the whole test, so
// a signal that arrives before Run listens is harmless; it is resent until
// Run returns.
func TestRunStopsOnSIGTERM(t *testing.T) {
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)

	cancelled := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(Config{Logger: discard()}, func(ctx context.Context) error {
			<-ctx.Done()
			close(cancelled)
			return ctx.Err()
		})
	}()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			select {
			case <-cancelled:
			default:
				t.Fatal("Run returned before the run function saw its context cancelled")
			}
			return
		case <-tick.C:
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("Run did not return within 5s of SIGTERM")
		}
	}
}
