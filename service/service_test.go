package service

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestProgramStopCancelsRun(t *testing.T) {
	started := make(chan struct{})
	p := newProgram(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}, time.Second, discard())
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	<-started
	if err := p.Stop(nil); err != nil {
		t.Fatalf("Stop = %v, want nil (context.Canceled after a stop is not an error)", err)
	}
}

func TestProgramStopReturnsShutdownError(t *testing.T) {
	errShutdown := errors.New("flush failed")
	p := newProgram(func(ctx context.Context) error {
		<-ctx.Done()
		return errShutdown
	}, time.Second, discard())
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Stop(nil); !errors.Is(err, errShutdown) {
		t.Fatalf("Stop = %v, want %v", err, errShutdown)
	}
}

func TestProgramOwnReturn(t *testing.T) {
	errFatal := errors.New("database locked")
	p := newProgram(func(ctx context.Context) error { return errFatal }, time.Second, discard())
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	done := make(chan struct{})
	go func() { p.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("wait did not return after run returned on its own")
	}
	if err := p.Stop(nil); !errors.Is(err, errFatal) {
		t.Fatalf("Stop = %v, want %v", err, errFatal)
	}
	// A run that ends on its own with context.Canceled (its own ctx, not
	// ours) is still an error.
	p = newProgram(func(ctx context.Context) error { return context.Canceled }, time.Second, discard())
	_ = p.Start(nil)
	<-p.done
	if err := p.Stop(nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
}

func TestProgramStopTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := newProgram(func(ctx context.Context) error {
		<-release
		return nil
	}, 50*time.Millisecond, discard())
	_ = p.Start(nil)
	start := time.Now()
	err := p.Stop(nil)
	if err == nil || !strings.Contains(err.Error(), "did not stop within 50ms") {
		t.Fatalf("Stop = %v, want a timeout error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stop took %v, want about 50ms", d)
	}
}

func TestProgramStartTwice(t *testing.T) {
	p := newProgram(func(ctx context.Context) error { <-ctx.Done(); return nil }, time.Second, discard())
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Start(nil); err == nil {
		t.Fatal("second Start = nil, want an error")
	}
	if err := p.Stop(nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stop without Start does not wait.
	if err := newProgram(nil, time.Hour, discard()).Stop(nil); err != nil {
		t.Fatalf("Stop before Start = %v, want nil", err)
	}
}

func TestConfigResolve(t *testing.T) {
	c, err := Config{ConfigPath: "robaws-edge.yaml", Executable: "bin/robaws-edge"}.resolve(false)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.ConfigPath) || !filepath.IsAbs(c.Executable) {
		t.Fatalf("ConfigPath=%q Executable=%q, want absolute paths", c.ConfigPath, c.Executable)
	}
	if c.Name != "robaws-edge" || c.DisplayName != "Robaws Edge" || c.StopTimeout != DefaultStopTimeout || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	want := []string{"run", "--config", c.ConfigPath}
	if diff := cmp.Diff(want, c.arguments()); diff != "" {
		t.Fatalf("arguments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"run"}, Config{}.arguments()); diff != "" {
		t.Fatalf("arguments without config (-want +got):\n%s", diff)
	}

	for _, name := range []string{"../etc/passwd", "robaws edge", "a/b", ".."} {
		if _, err := (Config{Name: name}).resolve(false); err == nil {
			t.Errorf("resolve(Name=%q) = nil error, want invalid name", name)
		}
	}
	if _, err := (Config{Description: "two\nlines"}).resolve(false); err == nil {
		t.Error("resolve(multi-line Description) = nil error, want an error")
	}
}

func TestSystemdUnitTargets(t *testing.T) {
	sys := systemdUnit(Config{StopTimeout: 15 * time.Second})
	if !strings.Contains(sys, "WantedBy=multi-user.target\n") {
		t.Errorf("system unit lacks WantedBy=multi-user.target:\n%s", sys)
	}
	user := systemdUnit(Config{UserService: true, StopTimeout: 15 * time.Second})
	if !strings.Contains(user, "WantedBy=default.target\n") {
		t.Errorf("user unit lacks WantedBy=default.target:\n%s", user)
	}
	if !strings.Contains(systemdUnit(Config{StopTimeout: 1500 * time.Millisecond}), "TimeoutStopSec=7\n") {
		t.Error("TimeoutStopSec not rounded up to StopTimeout+5s")
	}
}
