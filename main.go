// Command robaws-edge receives Robaws webhooks through an embedded ngrok
// tunnel, keeps every delivery and a customer cache in a bbolt file, and
// answers local questions through a JSON API and this CLI. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/cli"
	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/service"
	"github.com/robaws-edge/robaws-edge/store"
	"github.com/robaws-edge/robaws-edge/tunnel"
)

// version is set with -ldflags "-X main.version=…" (.ci/release).
var version = ""

// Version returns the build version (cli.Version: the linker flag, else
// what Go stamped into the build).
func Version() string { return cli.Version(version) }

// errLogged marks an error `run` already wrote to its log, so main does not
// print it a second time.
var errLogged = errors.New("logged")

// main runs the command. `run`, the daemon wired in this file, starts
// here; cli runs every other command. cli.Exit prints the error once and
// gives the exit code: 1, or 2 for bad usage or config.
func main() {
	ctx, args := context.Background(), os.Args[1:]
	if len(args) == 0 || args[0] != "run" {
		os.Exit(cli.Exit(cli.Main(ctx, args, os.Stdin, os.Stdout, os.Stderr, cli.Options{Version: Version()}), os.Stderr))
	}
	cfg, path, err := cli.RunConfig(args[1:], os.Stdout)
	if err == nil {
		err = run(ctx, cfg, path, os.Stderr)
	}
	if errors.Is(err, errLogged) {
		os.Exit(1)
	}
	os.Exit(cli.Exit(err, os.Stderr))
}

// run is the `run` command once its config is loaded (path is the file
// used, "" for the built-in defaults): it builds the logger, opens the
// store and the apps, then hands d.serve to the service manager, which runs
// it until SIGTERM, Interrupt or the service's stop.
func run(_ context.Context, cfg configs.Config, path string, stderr io.Writer) error {
	logger, closeLog, err := cli.Logger(cfg, path, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	// Open the store and build the apps before handing over to the service
	// manager: a locked database or bad config fails loudly and at once.
	d, err := openDaemon(cfg, logger)
	if err != nil {
		return err
	}
	if err := service.Run(service.Config{ConfigPath: path, Logger: logger}, d.serve); err != nil {
		logger.Error("stopped", "error", err)
		return fmt.Errorf("%w: %w", errLogged, err)
	}
	logger.Info("stopped")
	return nil
}

// daemon is what `run` starts: the store, the receiver on its listeners and
// the local API. Fields are set by openDaemon (fast, fails loudly) and used
// by serve (the long-running part).
type daemon struct {
	cfg    configs.Config
	logger *slog.Logger
	db     *store.DB
	recv   *intake.Receiver
	public *fiber.App
	local  *fiber.App
	// conns caps the public receiver's connections on receiver.listen and
	// the tunnel together (receiver.max_connections, _per_ip).
	conns    *app.ConnLimiter
	started  time.Time
	publicLn net.Listener // receiver.listen, nil when ""
	adminLn  net.Listener // admin.listen

	robaws    *robaws.Client // nil without credentials
	registrar *robaws.Registrar
	syncer    *robaws.Syncer
	forward   *forward.Forwarder
	// tunnel is the tunnel's supervisor while serve runs one (nil before,
	// and when the tunnel is off).
	tunnel atomic.Pointer[tunnel.Supervisor]
	// tunnelBackoff is the first retry delay of the tunnel and
	// tunnelConnectTimeout its connect deadline (default 30s); tests shorten
	// them.
	tunnelBackoff, tunnelConnectTimeout time.Duration

	// ready, when set, is called with the bound addresses once serving
	// (tests use it to learn :0 ports).
	ready func(receiverAddr string)
}

// openDaemon opens the store and builds the apps. Nothing listens yet.
func openDaemon(cfg configs.Config, logger *slog.Logger) (*daemon, error) {
	dbPath := cfg.DBPath()
	db, err := store.Open(dbPath, store.Options{QuarantineMaxBytes: cfg.Receiver.QuarantineMaxBytes})
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, logger: logger, db: db, started: time.Now()}
	switch {
	case cfg.Tunnel.Provider == "none":
		// The admin chose a proxy on this machine: no advice about ngrok.
		logger.Info("tunnel off (tunnel.provider: none): Robaws reaches this machine through a proxy that forwards to receiver.listen", "receiver_listen", cfg.Receiver.Listen)
	case !cfg.TunnelEnabled():
		logger.Info("tunnel disabled: set NGROK_AUTHTOKEN (or tunnel.authtoken) so Robaws can reach this machine")
	}
	var endpoints []intake.Endpoint
	for _, name := range cfg.EndpointNames() {
		ep := cfg.Endpoints[name]
		endpoints = append(endpoints, intake.Endpoint{Name: name, Path: ep.Path, Events: ep.Events, Secrets: ep.Secrets, AutoRegister: ep.Registers()})
	}
	mapping := customer.Mapping{DefaultCountry: cfg.Customers.DefaultCountry, RoleField: cfg.Customers.RoleField, PricingField: cfg.Customers.PricingField}
	metrics := app.NewMetrics()
	d.recv, err = intake.NewReceiver(db, intake.Config{
		Endpoints: endpoints, OnDelivery: metrics.Delivery,
		Mapping:   mapping,
		Tolerance: time.Duration(cfg.Receiver.SignatureTolerance), RejectedPerMinute: cfg.Receiver.RejectedPerMinute,
		Logger: logger.With("component", "receiver"),
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	d.conns = app.NewConnLimiter(cfg.Receiver.MaxConnections, cfg.Receiver.MaxConnectionsPerIP, logger.With("component", "receiver"))
	d.public = d.newPublic()
	d.robaws, err = robaws.New(robaws.Config{
		BaseURL: cfg.Robaws.BaseURL, Username: cfg.Robaws.Username, Password: cfg.Robaws.Password, APIKey: cfg.Robaws.APIKey,
		RequestsPerSecond: cfg.Robaws.RequestsPerSecond, Version: Version(), Logger: logger.With("component", "robaws"),
		ReadReplica: cfg.Robaws.ReadReplica, DailyReserve: cfg.Robaws.DailyReserve, DB: db,
	})
	switch {
	case errors.Is(err, robaws.ErrNoCredentials):
		logger.Info("Robaws API not configured: set robaws.username/password or robaws.api_key to register webhooks and sync customers")
		d.robaws = nil
	case err != nil:
		db.Close()
		return nil, cli.ConfigError(fmt.Errorf("robaws: %w", err))
	}
	if d.robaws != nil {
		var eps []robaws.Hook
		for _, ep := range d.recv.Endpoints() {
			eps = append(eps, robaws.Hook{Name: ep.Name, Path: ep.Path, Events: ep.Events, AutoRegister: ep.AutoRegister})
		}
		d.registrar = robaws.NewRegistrar(db, d.robaws, robaws.RegistrarConfig{
			Hooks: eps, OnSecretsChanged: d.recv.ReloadSecrets, Logger: logger.With("component", "robaws"),
		})
		d.syncer = robaws.NewSyncer(db, d.robaws, robaws.SyncerConfig{
			Map:    func(b []byte) (*store.Customer, error) { return customer.Map(b, mapping) },
			Logger: logger.With("component", "sync"),
		})
	}
	d.forward, err = forward.New(db, forward.Config{Destinations: destinations(cfg), Version: Version(),
		Logger: logger.With("component", "forward"), OnAttempt: metrics.ForwardAttempt})
	if err == nil {
		err = d.forward.Init(context.Background())
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	d.local = app.NewLocal(db, d.recv, app.LocalConfig{
		Token: cfg.Admin.Token, Version: Version(), ReceiverListen: cfg.Receiver.Listen,
		Tunnel: d.tunnelStatus, Started: d.started, Logger: logger.With("component", "api"),
		Registrar: d.registrar, Syncer: d.syncer, Metrics: metrics, Robaws: d.robaws, Forward: d.forward,
		NoPublicURL:    cfg.Tunnel.Provider == "auto" && !cfg.TunnelEnabled() && (cfg.Receiver.Listen == "" || configs.IsLoopback(cfg.Receiver.Listen)),
		SilenceAfter:   time.Duration(cfg.Health.SilenceAfter),
		RejectedWindow: time.Duration(cfg.Health.RejectedWindow), RejectedMin: cfg.Health.RejectedMin,
		Hosts: cfg.Admin.Hosts, MaxFollowers: cfg.Admin.MaxFollowers,
	})
	logger.Info("store open", "path", dbPath, "data_dir", cfg.DataDirPath())
	return d, nil
}

// destinations maps the forward section onto forward's destinations.
func destinations(cfg configs.Config) []forward.Destination {
	var out []forward.Destination
	for _, name := range cfg.ForwardNames() {
		f := cfg.Forward[name]
		out = append(out, forward.Destination{Name: name, Kind: f.Kind, URL: f.URL, Stream: f.Stream, Events: f.Events,
			Secret: f.Secret, Headers: f.Headers, Timeout: time.Duration(f.Timeout), Subject: f.Subject, NATSStream: f.NATSStream,
			Credentials: f.Credentials, Token: f.Token, Beginning: f.Start == "beginning", AlertAfter: time.Duration(f.AlertAfter),
			IncludeTest: f.IncludeTest})
	}
	return out
}

// newPublic builds a public receiver app (one per listener).
func (d *daemon) newPublic() *fiber.App {
	return app.NewPublic(d.recv, app.PublicConfig{
		MaxBodyBytes: d.cfg.Receiver.MaxBodyBytes, HeaderTimeout: time.Duration(d.cfg.Receiver.HeaderTimeout),
		Logger: d.logger.With("component", "receiver"),
	})
}

// tunnelStatus reports the tunnel for /api/health and /metrics.
func (d *daemon) tunnelStatus() app.TunnelStatus {
	if !d.cfg.TunnelEnabled() {
		return app.TunnelStatus{Provider: d.cfg.TunnelProvider(), Status: app.TunnelDisabled}
	}
	st := app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOffline}
	if sup := d.tunnel.Load(); sup != nil {
		if url := sup.URL(); url != "" {
			st.Status, st.PublicURL = app.TunnelOnline, url
		} else {
			st.Error = sup.Err()
		}
	}
	return st
}

// serveTunnel serves one tunnel session with its own public app (a Fiber
// app serves one listener at a time safely), under the receiver's
// connection caps, until ctx ends; then it shuts the app down, letting
// in-flight requests finish.
func (d *daemon) serveTunnel(ctx context.Context, ln net.Listener) error {
	public := d.newPublic()
	served := make(chan error, 1)
	go func() { served <- public.Listener(d.conns.Listener(ln)) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := public.ShutdownWithContext(sctx); err != nil {
		d.logger.Warn("tunnel receiver shutdown", "component", "tunnel", "error", err)
	}
	select {
	case <-served:
	case <-sctx.Done():
	}
	return nil
}

// onPublicURL runs after each tunnel connect (and hourly): keep the Robaws
// registrations pointing at the (possibly new) public URL.
func (d *daemon) onPublicURL(ctx context.Context, url string) error {
	if d.registrar == nil {
		return nil
	}
	return d.registrar.EnsureRegistered(ctx, url)
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
	d.logger.Info("web console and local API", "url", "http://"+adminLn.Addr().String()+"/")
	if d.cfg.Receiver.Listen != "" {
		ln, err := net.Listen("tcp", d.cfg.Receiver.Listen)
		if err != nil {
			adminLn.Close()
			return fmt.Errorf("receiver.listen: %w", err)
		}
		d.publicLn = d.conns.Listener(ln)
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() { errc <- d.local.Listener(adminLn) })
	if d.publicLn != nil {
		wg.Go(func() { errc <- d.public.Listener(d.publicLn) })
		d.logger.Info("receiver listening", "addr", d.publicLn.Addr().String())
	}
	jobs, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	jobsWG := d.startJobs(jobs)
	// The tunnel runs beside the local listeners: when ngrok is down the
	// daemon keeps serving locally and the supervisor retries.
	tunnelCtx, stopTunnel := context.WithCancel(context.Background())
	defer stopTunnel()
	var tunnelWG sync.WaitGroup
	if d.cfg.TunnelEnabled() {
		sup := tunnel.NewSupervisor(d.supervisorConfig())
		d.tunnel.Store(sup)
		tunnelWG.Go(func() { sup.Run(tunnelCtx) })
	}
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
	stopTunnel()
	tunnelWG.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := d.public.ShutdownWithContext(sctx); serr != nil {
		d.logger.Warn("receiver shutdown", "error", serr)
	}
	if serr := d.local.ShutdownWithContext(sctx); serr != nil {
		d.logger.Warn("local API shutdown", "error", serr)
	}
	// A Listener goroutine that had not reached Serve when Shutdown ran
	// (a stop right after the start) would accept forever: closing the
	// listeners ends it either way (a second Close is harmless).
	if d.publicLn != nil {
		d.publicLn.Close()
	}
	adminLn.Close()
	stopJobs()
	if d.syncer != nil {
		d.syncer.Close()
	}
	jobsWG.Wait()
	wg.Wait()
	return err
}

// startJobs starts the retention job, forwarding and the periodic sync;
// they stop when ctx is done.
func (d *daemon) startJobs(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() { d.retain(ctx) })
	wg.Go(func() {
		if err := d.forward.Run(ctx); err != nil && ctx.Err() == nil {
			d.logger.Error("forwarding stopped", "error", err)
		}
	})
	if d.syncer != nil && d.cfg.Robaws.SyncInterval > 0 {
		wg.Go(func() {
			if err := d.syncer.RunPeriodic(ctx, time.Duration(d.cfg.Robaws.SyncInterval)); err != nil && ctx.Err() == nil {
				d.logger.Error("background sync stopped", "error", err)
			}
		})
	}
	return &wg
}

// supervisorConfig is the tunnel supervisor's configuration from tunnel.*.
func (d *daemon) supervisorConfig() tunnel.SupervisorConfig {
	t := d.cfg.Tunnel
	return tunnel.SupervisorConfig{
		Tunnel: tunnel.Config{
			Authtoken: t.Authtoken, URL: t.URL, ConnectURL: t.ConnectURL, ConnectCAFile: t.ConnectCAFile,
			ClientName: "robaws-edge", ClientVersion: Version(), Logger: d.logger,
			ConnectTimeout: d.tunnelConnectTimeout, DrainTimeout: 3 * time.Second,
		},
		Serve: d.serveTunnel, OnURL: d.onPublicURL, MinBackoff: d.tunnelBackoff,
		Logger: d.logger.With("component", "tunnel"),
	}
}

// retain prunes the log daily (retention.max_age), first at start.
func (d *daemon) retain(ctx context.Context) {
	maxAge := time.Duration(d.cfg.Retention.MaxAge)
	d.db.PruneDaily(ctx, maxAge, func(n, held int, err error) {
		if err != nil {
			d.logger.Error("retention", "error", err, "deleted", n)
		} else if n > 0 {
			d.logger.Info("retention: old log entries deleted", "deleted", n, "max_age", maxAge.String())
		}
		if held > 0 {
			d.logger.Warn("retention: old log entries kept until forwarding destinations have them", "kept", held, "max_age", maxAge.String())
		}
	})
}
