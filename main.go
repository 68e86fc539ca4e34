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
			fmt.Fprintln(os.Stderr, "robaws-edge:", strings.TrimSuffix(err.Error(), ": "+errUsage.Error()))
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
	started  time.Time
	publicLn net.Listener // receiver.listen, nil when ""

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
	logger.Info("store open", "path", dbPath, "data_dir", cfg.DataDirPath())
	return d, nil
}

// serve binds the listeners synchronously, serves until ctx is done, then
// shuts down in reverse order under one deadline and closes the store.
func (d *daemon) serve(ctx context.Context) error {
	defer d.db.Close()
	errc := make(chan error, 4)
	if d.cfg.Receiver.Listen != "" {
		ln, err := net.Listen("tcp", d.cfg.Receiver.Listen)
		if err != nil {
			return fmt.Errorf("receiver.listen: %w", err)
		}
		d.publicLn = ln
		go func() { errc <- d.public.Listener(ln) }()
		d.logger.Info("receiver listening", "addr", ln.Addr().String())
	}
	if d.ready != nil {
		addr := ""
		if d.publicLn != nil {
			addr = d.publicLn.Addr().String()
		}
		d.ready(addr)
	}
	var err error
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
	return err
}
