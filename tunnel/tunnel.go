// Package tunnel publishes a local server on a public ngrok HTTPS URL.
//
// Listen connects an ngrok agent (golang.ngrok.com/ngrok/v2) and opens one
// endpoint. The returned *Tunnel is a net.Listener: each accepted connection
// carries plain HTTP/1.1 from the public internet (ngrok ends TLS at its
// edge), and its RemoteAddr is the real client's address. Serve it with
// net/http, fasthttp or Fiber as you would a TCP listener.
//
// How it lives. Listen is synchronous and bounded by Config.ConnectTimeout,
// because the SDK's Connect retries forever, even on a refused authtoken
// (ngrok-go#176). The session's lifetime is owned by the Tunnel, not by the
// ctx given to Listen: the SDK ends a session when its connect ctx ends, so
// Listen connects with a ctx of its own that only Close cancels. After a
// network loss the SDK reconnects by itself and binds the same endpoint again,
// so the same listener keeps working; Online reports that state. When the
// session ends for good, Done is closed; the caller then calls Close and
// Listen again, with backoff.
//
// Secrets. The authtoken never appears in an error returned here, nor in a log
// line written through Config.Logger, including the SDK's own lines: ngrok's
// auth errors quote the token ("Your authtoken: …"), so both are redacted.
package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.ngrok.com/ngrok/v2"
)

// Defaults for the Config durations.
const (
	defaultConnectTimeout = 30 * time.Second
	defaultDrainTimeout   = 10 * time.Second
	// unbindTimeout bounds the Unbind request in Close. The SDK's request has
	// no deadline of its own, and on a silent network only the heartbeat
	// (10s interval + 15s tolerance) would end it.
	unbindTimeout = 5 * time.Second
)

// Config configures Listen.
type Config struct {
	// Authtoken authenticates the agent to ngrok. Required. It is redacted
	// from every error and log line (when it has 8 characters or more, as
	// real tokens do; a test token such as "x" is left alone).
	Authtoken string

	// URL is the reserved endpoint URL, such as
	// "https://office-edge.ngrok.app"; without a scheme, https is used.
	// Default "": ngrok picks a random https URL.
	URL string

	// ConnectURL is the host:port of the ngrok agent ingress. Default "": the
	// SDK's default, connect.ngrok-agent.com:443.
	ConnectURL string

	// ConnectCAFile is a PEM bundle of the CAs trusted for the ingress
	// certificate. It replaces the default. Default "": the SDK's default,
	// which is ngrok's own root CA built into ngrok-go (not the system roots).
	ConnectCAFile string

	// ConnectTimeout bounds Listen: dialling, authenticating and binding the
	// endpoint. Default 30s.
	ConnectTimeout time.Duration

	// DrainTimeout is how long the session outlives Close while connections
	// accepted before Close are still open, so that in-flight responses
	// reach the client. Default 10s.
	DrainTimeout time.Duration

	// ClientName and ClientVersion identify this program to ngrok
	// (ngrok.WithClientInfo); ClientVersion is used only with ClientName.
	// Default "": only the SDK identifies itself.
	ClientName, ClientVersion string

	// Logger receives the tunnel's lifecycle lines and the SDK's own lines,
	// with component=tunnel. Default nil: logs are discarded.
	Logger *slog.Logger

	// OnError, when set, is called with each failed connect attempt as it
	// happens (redacted, like Listen's errors): while Listen connects,
	// which may take ConnectTimeout, and while the SDK reconnects after a
	// loss. It must not block. Default nil.
	OnError func(err error)
}

// Tunnel is an open ngrok endpoint. It is a net.Listener.
type Tunnel struct {
	agent        ngrok.Agent
	ln           ngrok.EndpointListener
	endSession   context.CancelFunc
	onError      func(error)
	secret       string
	log          *slog.Logger
	drainTimeout time.Duration

	online atomic.Bool
	done   chan struct{}

	doneOnce       sync.Once
	disconnectOnce sync.Once

	mu         sync.Mutex
	url        string
	connecting bool  // Listen has not returned yet
	lastErr    error // latest connect failure while connecting
	refused    error // ngrok refused the agent while connecting
	closing    bool  // Close was called
	unbindDone bool  // Close has finished its Unbind and waits for active to drain
	active     int   // accepted connections not yet closed
	drain      *time.Timer
}

var _ net.Listener = (*Tunnel)(nil)

// Listen connects an ngrok agent and opens one HTTPS endpoint. It returns when
// the endpoint is bound, or with an error within cfg.ConnectTimeout: for
// example "ngrok: connect timed out after 30s: <last error>" when the ingress
// cannot be reached. If ngrok refuses the agent (bad authtoken, too many
// sessions), Listen stops at once instead of retrying; that error satisfies
// ngrok.Error, so errors.As gives its code, such as "ERR_NGROK_105". No error
// text contains the authtoken.
//
// ctx bounds only this call: cancelling it later does not affect the Tunnel.
// Close the Tunnel to end the session.
func Listen(ctx context.Context, cfg Config) (*Tunnel, error) {
	if cfg.Authtoken == "" {
		return nil, errors.New("ngrok: authtoken is required")
	}
	cfg = cfg.withDefaults()
	timeout := cfg.ConnectTimeout
	logger := slog.New(redactHandler{h: cfg.Logger.Handler(), secret: cfg.Authtoken}).With("component", "tunnel")

	t := &Tunnel{
		onError:      cfg.OnError,
		secret:       cfg.Authtoken,
		log:          logger,
		drainTimeout: cfg.DrainTimeout,
		done:         make(chan struct{}),
		connecting:   true,
	}
	opts, err := agentOptions(cfg, logger, t.handleEvent)
	if err != nil {
		return nil, err
	}
	agent, err := ngrok.NewAgent(opts...)
	if err != nil {
		return nil, fmt.Errorf("ngrok: %w", t.sanitize(err))
	}
	t.agent = agent

	// The session ctx outlives this call (the SDK closes the session when it
	// ends); the startup deadline and the caller's ctx cancel it only until
	// Listen returns.
	sessCtx, endSession := context.WithCancel(context.WithoutCancel(ctx))
	t.endSession = endSession
	var timedOut atomic.Bool
	deadline := time.AfterFunc(timeout, func() { timedOut.Store(true); endSession() })
	stopCaller := context.AfterFunc(ctx, endSession)

	err = agent.Connect(sessCtx)
	var ln ngrok.EndpointListener
	if err == nil {
		var endpointOpts []ngrok.EndpointOption
		if cfg.URL != "" {
			endpointOpts = append(endpointOpts, ngrok.WithURL(cfg.URL))
		}
		ln, err = agent.Listen(sessCtx, endpointOpts...)
	}
	deadlineStopped, callerStopped := deadline.Stop(), stopCaller()

	t.mu.Lock()
	lastErr, refused := t.lastErr, t.refused
	t.mu.Unlock()
	switch {
	case refused != nil:
		err = fmt.Errorf("ngrok: connect: %w", t.sanitize(refused))
	case !callerStopped && ctx.Err() != nil:
		err = fmt.Errorf("ngrok: connect: %w", context.Cause(ctx))
	case !deadlineStopped || timedOut.Load():
		// Fired: the session is dead even if Connect or Listen succeeded.
		err = fmt.Errorf("ngrok: connect timed out after %s", timeout)
		if lastErr != nil {
			err = fmt.Errorf("%w: %w", err, t.sanitize(lastErr))
		}
	case err != nil:
		err = fmt.Errorf("ngrok: listen: %w", t.sanitize(err))
	}
	if err != nil {
		t.disconnect()
		return nil, err
	}

	t.ln = ln
	t.mu.Lock()
	t.url = ln.URL().String()
	t.connecting = false
	t.mu.Unlock()
	t.log.Info("tunnel online", "url", t.url)
	return t, nil
}

// withDefaults fills the connect and drain timeouts and the logger when unset.
func (cfg Config) withDefaults() Config {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = defaultDrainTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// agentOptions turns cfg into the ngrok agent's options: the authtoken, the
// logger and event handler, and for tests and private ingresses the connect
// URL and its CA.
func agentOptions(cfg Config, logger *slog.Logger, onEvent ngrok.EventHandler) ([]ngrok.AgentOption, error) {
	opts := []ngrok.AgentOption{
		ngrok.WithAuthtoken(cfg.Authtoken),
		ngrok.WithLogger(logger),
		ngrok.WithEventHandler(onEvent),
	}
	if cfg.ClientName != "" {
		opts = append(opts, ngrok.WithClientInfo(cfg.ClientName, cfg.ClientVersion))
	}
	if cfg.ConnectURL != "" {
		host, _, err := net.SplitHostPort(cfg.ConnectURL)
		if err != nil {
			return nil, fmt.Errorf("ngrok: connect URL %q: %w", cfg.ConnectURL, err)
		}
		// The SDK takes the TLS server name as the text before the first
		// ":", which breaks "[::1]:443"; set it from the parsed host.
		opts = append(opts,
			ngrok.WithAgentConnectURL(cfg.ConnectURL),
			ngrok.WithTLSConfig(func(c *tls.Config) { c.ServerName = host }))
	}
	if cfg.ConnectCAFile != "" {
		pem, err := os.ReadFile(cfg.ConnectCAFile)
		if err != nil {
			return nil, fmt.Errorf("ngrok: connect CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ngrok: connect CA file %s: no PEM certificates", cfg.ConnectCAFile)
		}
		opts = append(opts, ngrok.WithAgentConnectCAs(pool))
	}
	return opts, nil
}

// Accept waits for the next public connection. Its RemoteAddr is the
// client's address as ngrok saw it. After Close, Accept returns an error that
// wraps net.ErrClosed ("use of closed network connection", which fasthttp and
// Fiber treat as a clean stop). If the session ended for good without Close,
// Accept returns the SDK's error ("failed to accept connection: Listener
// closed") and Done is closed. If ngrok stopped the endpoint but not the
// session, the error satisfies ngrok.Error and Done stays open: Close and
// Listen again.
//
// Keep calling Accept until it fails, as net/http and fasthttp do: the SDK
// holds an arriving connection until it is accepted, and its Unbind in Close
// waits for that.
func (t *Tunnel) Accept() (net.Conn, error) {
	c, err := t.ln.Accept()
	if err != nil {
		t.mu.Lock()
		closing := t.closing
		t.mu.Unlock()
		if closing {
			return nil, fmt.Errorf("ngrok: accept: %w", net.ErrClosed)
		}
		return nil, err
	}
	t.mu.Lock()
	t.active++
	t.mu.Unlock()
	return &conn{Conn: c, t: t}, nil
}

// Close stops new public connections by unbinding the endpoint and ends the
// agent session: at once if no accepted connection is open, otherwise when the
// last one is closed or after Config.DrainTimeout, whichever comes first. Done
// is closed when the session has ended. A second call does nothing.
//
// Close always returns nil. A failed Unbind is logged instead, because
// fasthttp (and so Fiber) abandons its Shutdown when a listener's Close fails,
// and it calls Close itself.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return nil
	}
	t.closing = true
	t.mu.Unlock()

	// Unbind on a goroutine so that a silent network cannot hold Close for
	// longer than unbindTimeout. If it times out, ending the session below
	// fails the pending request and the goroutine returns.
	// While the agent is offline the Unbind fails at once, and ngrok has
	// dropped the endpoint with the session anyway: no warning then.
	online := t.online.Load()
	unbound := make(chan struct{})
	go func() {
		defer close(unbound)
		if err := t.ln.Close(); err != nil && online {
			t.log.Warn("tunnel unbind failed", "error", err)
		}
	}()
	timer := time.NewTimer(unbindTimeout)
	select {
	case <-unbound:
		timer.Stop()
	case <-timer.C:
		t.log.Warn("tunnel unbind timed out", "timeout", unbindTimeout)
		t.disconnect()
		return nil
	}

	t.mu.Lock()
	t.unbindDone = true
	idle := t.active == 0
	if !idle {
		t.drain = time.AfterFunc(t.drainTimeout, t.disconnect)
	}
	t.mu.Unlock()
	if idle {
		t.disconnect()
	}
	return nil
}

// Addr returns the endpoint's public host, such as "x.ngrok.app".
func (t *Tunnel) Addr() net.Addr { return t.ln.Addr() }

// URL returns the endpoint's public URL, such as "https://x.ngrok.app".
func (t *Tunnel) URL() string { return t.url }

// Online reports whether the agent is connected to ngrok. It is false while
// the SDK reconnects after a network loss and true again once the endpoint is
// bound on the new connection.
func (t *Tunnel) Online() bool { return t.online.Load() }

// Done returns a channel that is closed when the session has ended for good:
// after Close, or when the SDK gives up (it reports a disconnect with no
// error). Then call Close and, to stay reachable, Listen again with backoff.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// handleEvent follows the agent's state. The SDK calls it synchronously from
// its own goroutines, so it must not block: it only takes t.mu briefly, logs
// and cancels a ctx.
func (t *Tunnel) handleEvent(ev ngrok.Event) {
	switch ev := ev.(type) {
	case *ngrok.EventAgentConnectSucceeded:
		t.online.Store(true)
		t.mu.Lock()
		quiet, url := t.connecting || t.closing, t.url
		t.mu.Unlock()
		if !quiet { // Listen logs the first connect itself, with the URL
			t.log.Info("tunnel online", "url", url)
		}
	case *ngrok.EventAgentDisconnected:
		wasOnline := t.online.Swap(false)
		refuse := false
		t.mu.Lock()
		connecting, closing := t.connecting, t.closing
		if connecting && ev.Error != nil && !errors.Is(ev.Error, context.Canceled) {
			t.lastErr = ev.Error
			// An error with an ngrok code comes from the service itself,
			// e.g. a refused authtoken. The SDK would retry it forever.
			if t.refused == nil && errorCode(ev.Error) != "" {
				t.refused, refuse = ev.Error, true
			}
		}
		t.mu.Unlock()
		if refuse {
			t.endSession()
		}
		if t.onError != nil && ev.Error != nil && !closing && !errors.Is(ev.Error, context.Canceled) {
			// What the SDK logs now, health can say now (not only when
			// Listen gives up, ConnectTimeout later).
			t.onError(t.sanitize(ev.Error))
		}
		switch {
		case ev.Error == nil: // the SDK will not reconnect
			if !connecting && !closing {
				t.log.Warn("tunnel session ended")
			}
			t.closeDone()
		case wasOnline && !connecting && !closing:
			// Once per loss: the SDK logs each failed retry itself.
			t.log.Warn("tunnel offline", "error", ev.Error)
		}
	}
}

// release records that an accepted connection was closed, and ends the
// session if Close is waiting for it. While Close's Unbind is still in flight
// it must not: ending the session under a pending request fails the Unbind,
// and the SDK's muxado then reuses the request's frame buffer while its writer
// may still be sending it (a data race inside the SDK). Close itself ends the
// session after the Unbind when no connection is left.
func (t *Tunnel) release() {
	t.mu.Lock()
	t.active--
	last := t.unbindDone && t.active == 0
	t.mu.Unlock()
	if last {
		t.disconnect()
	}
}

// disconnect ends the agent session and closes Done. It runs once.
func (t *Tunnel) disconnect() {
	t.disconnectOnce.Do(func() {
		t.mu.Lock()
		if t.drain != nil {
			t.drain.Stop()
		}
		t.mu.Unlock()
		if err := t.agent.Disconnect(); err != nil {
			t.log.Debug("tunnel disconnect", "error", err)
		}
		t.endSession()
		t.online.Store(false)
		t.closeDone()
	})
}

func (t *Tunnel) closeDone() { t.doneOnce.Do(func() { close(t.done) }) }

// sanitize returns err's text with the authtoken removed and on one line,
// keeping the ngrok error code, if any, behind ngrok.Error.
func (t *Tunnel) sanitize(err error) error {
	msg := strings.Join(strings.Fields(redact(err.Error(), t.secret)), " ")
	if code := errorCode(err); code != "" {
		return &serviceError{msg: msg, code: code}
	}
	return errors.New(msg)
}

// serviceError is an error from the ngrok service whose text has been
// redacted. It satisfies ngrok.Error.
type serviceError struct{ msg, code string }

func (e *serviceError) Error() string { return e.msg }
func (e *serviceError) Code() string  { return e.code }

// errorCode returns the ngrok code ("ERR_NGROK_105") in err's chain, or "".
// Errors from Connect and Listen satisfy ngrok.Error (Code); errors in the
// SDK's events are its internal type, which has ErrorCode instead.
func errorCode(err error) string {
	var public ngrok.Error
	if errors.As(err, &public) && public.Code() != "" {
		return public.Code()
	}
	var internal interface{ ErrorCode() string }
	if errors.As(err, &internal) {
		return internal.ErrorCode()
	}
	return ""
}

// conn counts itself out of Tunnel.active when closed.
type conn struct {
	net.Conn
	t    *Tunnel
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.t.release)
	return err
}
