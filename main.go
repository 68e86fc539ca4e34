// Command robaws-edge receives Robaws webhooks through an embedded ngrok
// tunnel, keeps every delivery and a customer cache in a bbolt file, and
// answers local questions through a JSON API and this CLI. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// version is set with -ldflags "-X main.version=…".
var version = ""

// Version returns the build version: the linker flag, else the module
// version from the build info, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// errUsage marks bad usage or config: exit code 2.
var errUsage = errors.New("usage")

func main() {
	err := Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			msg := strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
			if !strings.HasPrefix(msg, "robaws-edge ") {
				msg = "robaws-edge: " + msg
			}
			fmt.Fprintln(os.Stderr, msg)
		}
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError wraps err so that main exits 2.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errUsage)
}

// newLogger builds the one logger of the process.
func newLogger(w io.Writer, c LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemon is what `run` starts: the store, the receiver on its listeners and
// the local API. Fields are set by openDaemon (fast, fails loudly) and used
// by serve (the long-running part).
type daemon struct {
	cfg      Config
	logger   *slog.Logger
	db       *store.DB
	recv     *app.Receiver
	public   *fiber.App
	local    *fiber.App
	started  time.Time
	publicLn net.Listener // receiver.listen, nil when ""
	adminLn  net.Listener // admin.listen

	// ready, when set, is called with the bound addresses once serving
	// (tests use it to learn :0 ports).
	ready func(receiverAddr string)
}

// openDaemon opens the store and builds the apps. Nothing listens yet.
func openDaemon(cfg Config, logger *slog.Logger) (*daemon, error) {
	dbPath := cfg.DBPath()
	db, err := store.Open(dbPath, store.Options{QuarantineMaxBytes: cfg.Receiver.QuarantineMaxBytes})
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, logger: logger, db: db, started: time.Now()}
	var endpoints []app.Endpoint
	for _, name := range cfg.endpointNames() {
		ep := cfg.Endpoints[name]
		endpoints = append(endpoints, app.Endpoint{Name: name, Path: ep.Path, Events: ep.Events, Secrets: ep.Secrets, AutoRegister: ep.autoRegister()})
	}
	d.recv, err = app.NewReceiver(db, app.ReceiverConfig{
		Endpoints: endpoints,
		Mapping:   app.Mapping{DefaultCountry: cfg.Customers.DefaultCountry, RoleField: cfg.Customers.RoleField, PricingField: cfg.Customers.PricingField},
		Tolerance: cfg.Receiver.SignatureTolerance, RejectedPerMinute: cfg.Receiver.RejectedPerMinute,
		Logger: logger.With("component", "receiver"),
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	d.public = app.NewPublic(d.recv, app.PublicConfig{MaxBodyBytes: cfg.Receiver.MaxBodyBytes, Logger: logger.With("component", "receiver")})
	d.local = app.NewLocal(db, d.recv, app.LocalConfig{
		Token: cfg.Admin.Token, Version: Version(), ReceiverListen: cfg.Receiver.Listen,
		Tunnel: d.tunnelStatus, Started: d.started, Logger: logger.With("component", "api"),
	})
	logger.Info("store open", "path", dbPath, "data_dir", cfg.DataDirPath())
	return d, nil
}

// tunnelStatus reports the tunnel for /api/health and /metrics.
func (d *daemon) tunnelStatus() app.TunnelStatus {
	if !d.cfg.tunnelEnabled() {
		return app.TunnelStatus{Provider: "none", Status: app.TunnelDisabled}
	}
	// The ngrok listener is not started by run yet; until it is, a
	// configured tunnel is reported offline.
	return app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOffline}
}

// serve binds the listeners synchronously, serves until ctx is done, then
// shuts down in reverse order under one deadline (receiver, local API,
// retention job) and closes the store.
func (d *daemon) serve(ctx context.Context) error {
	defer d.db.Close()
	adminLn, err := net.Listen("tcp", d.cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	d.adminLn = adminLn
	if d.cfg.Receiver.Listen != "" {
		ln, err := net.Listen("tcp", d.cfg.Receiver.Listen)
		if err != nil {
			adminLn.Close()
			return fmt.Errorf("receiver.listen: %w", err)
		}
		d.publicLn = ln
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() { errc <- d.local.Listener(adminLn) })
	d.logger.Info("local API listening", "addr", adminLn.Addr().String())
	if d.publicLn != nil {
		wg.Go(func() { errc <- d.public.Listener(d.publicLn) })
		d.logger.Info("receiver listening", "addr", d.publicLn.Addr().String())
	}
	jobs, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	var jobsWG sync.WaitGroup
	jobsWG.Go(func() { d.retain(jobs) })
	if d.ready != nil {
		addr := ""
		if d.publicLn != nil {
			addr = d.publicLn.Addr().String()
		}
		d.ready(addr)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	d.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := d.public.ShutdownWithContext(sctx); serr != nil {
		d.logger.Warn("receiver shutdown", "error", serr)
	}
	if serr := d.local.ShutdownWithContext(sctx); serr != nil {
		d.logger.Warn("local API shutdown", "error", serr)
	}
	stopJobs()
	jobsWG.Wait()
	wg.Wait()
	return err
}

// retain prunes the log daily (retention.max_age), first at start.
func (d *daemon) retain(ctx context.Context) {
	maxAge := d.cfg.Retention.MaxAge
	if maxAge <= 0 {
		return
	}
	tick := time.NewTicker(24 * time.Hour)
	defer tick.Stop()
	for {
		n, err := d.db.PruneEvents(ctx, maxAge)
		switch {
		case err != nil && ctx.Err() == nil:
			d.logger.Error("retention", "error", err, "deleted", n)
		case n > 0:
			d.logger.Info("retention: old log entries deleted", "deleted", n, "max_age", maxAge.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
