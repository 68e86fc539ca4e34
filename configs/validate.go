package configs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KeyError is a problem with one key of the file, such as
// "receiver.listen" or "endpoints.customers.secrets[0]".
type KeyError struct {
	Key string // dotted, as in the file
	Err error  // what is wrong and what the key accepts
}

// Error is the key, a colon and the problem.
func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the problem, for errors.Is and errors.As.
func (e *KeyError) Unwrap() error { return e.Err }

func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate checks every key and returns the first problem as a *KeyError:
// everything `run` would refuse (ports, clashing paths, a non-loopback
// admin.listen without a token, an empty secret).
func (c *Config) Validate() error { return c.validate(nil) }

// validate checks the sections one after the other and returns the first
// problem found; env says which values came from a ${VAR}, so that a
// message does not show them.
func (c *Config) validate(env envKeys) error {
	// The order is the order problems have always been found in (the first
	// is the one reported): health sits between the two robaws checks.
	for _, check := range []func(envKeys) error{
		c.validateLog,
		c.validateReceiver,
		c.validateAdmin,
		c.validateTunnel,
		c.validateEndpoints,
		c.validateRobaws,
		c.validateHealth,
		c.validateRobawsSync,
		c.validateCustomers,
		c.validateRetention,
	} {
		if err := check(env); err != nil {
			return err
		}
	}
	return c.validateForward()
}

func (c *Config) validateLog(env envKeys) error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return keyErr("log.level", "must be debug, info, warn or error (got %s)", env.show("log.level", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return keyErr("log.format", "must be text or json (got %s)", env.show("log.format", c.Log.Format))
	}
	return nil
}

func (c *Config) validateReceiver(env envKeys) error {
	r := c.Receiver
	if r.Listen != "" {
		if err := checkHostPort(r.Listen); err != nil {
			return keyErr("receiver.listen", "%v (got %s)", err, env.show("receiver.listen", r.Listen))
		}
	}
	switch {
	case r.MaxBodyBytes <= 0:
		return keyErr("receiver.max_body_bytes", "must be positive")
	case r.SignatureTolerance <= 0:
		return keyErr("receiver.signature_tolerance", "must be a positive duration such as 5m")
	case r.QuarantineMaxBytes <= 0:
		return keyErr("receiver.quarantine_max_bytes", "must be positive")
	case r.RejectedPerMinute <= 0:
		return keyErr("receiver.rejected_per_minute", "must be positive")
	case r.MaxConnections <= 0:
		return keyErr("receiver.max_connections", "must be a positive number of connections, such as 512")
	case r.MaxConnectionsPerIP <= 0:
		return keyErr("receiver.max_connections_per_ip", "must be a positive number of connections, such as 64")
	case r.MaxConnectionsPerIP > r.MaxConnections:
		return keyErr("receiver.max_connections_per_ip", "must not exceed receiver.max_connections (%d)", r.MaxConnections)
	case r.HeaderTimeout <= 0:
		return keyErr("receiver.header_timeout", "must be a positive duration such as 5s")
	}
	return nil
}

// validateAdmin checks the admin section; admin.listen must not be
// receiver.listen, so it runs after validateReceiver.
func (c *Config) validateAdmin(env envKeys) error {
	a := c.Admin
	if a.Listen == "" {
		return keyErr("admin.listen", "required (the CLI talks to the daemon through it)")
	}
	if err := checkHostPort(a.Listen); err != nil {
		return keyErr("admin.listen", "%v (got %s)", err, env.show("admin.listen", a.Listen))
	}
	if c.Receiver.Listen != "" && sameAddr(c.Receiver.Listen, a.Listen) {
		return keyErr("admin.listen", "is receiver.listen too (%s): the local API and the receiver need addresses of their own", env.show("admin.listen", a.Listen))
	}
	if err := c.validateAdminToken(env); err != nil {
		return err
	}
	for i, h := range a.Hosts {
		if key := fmt.Sprintf("admin.hosts[%d]", i); !validHostName(h) {
			return keyErr(key, "must be a host name without port or scheme, such as edge.office.lan (got %s)", env.show(key, h))
		}
	}
	if a.MaxFollowers <= 0 {
		return keyErr("admin.max_followers", "must be a positive number of open log streams, such as 64")
	}
	return nil
}

// validateAdminToken checks admin.token, whose value no message shows, not
// even its length: that says something of the token.
func (c *Config) validateAdminToken(env envKeys) error {
	a := c.Admin
	switch {
	case a.Token == "" && env.has("admin.token"):
		// An unset ${VAR} must not silently turn authentication off.
		return keyErr("admin.token", "expanded to nothing (%s): set the variable, or remove admin.token to run without a token", cmp.Or(env.unset("admin.token"), "its ${VAR} is empty"))
	case a.Token == "" && !IsLoopback(a.Listen):
		return keyErr("admin.token", "required when admin.listen is not a loopback address (admin.listen is %s)", env.show("admin.listen", a.Listen))
	case a.Token != "" && utf8.RuneCountInString(a.Token) < MinTokenLength:
		return keyErr("admin.token", "too short: use at least %d characters (`robaws-edge config init --token` writes a random one into a new file; or `openssl rand -hex 16`)", MinTokenLength)
	}
	return nil
}

// validateTunnel checks the tunnel section, then that deliveries have a
// way in: receiver.listen or a tunnel.
func (c *Config) validateTunnel(env envKeys) error {
	t := c.Tunnel
	switch t.Provider {
	case "auto", "none":
	case "ngrok":
		if t.Authtoken == "" {
			return keyErr("tunnel.authtoken", "required when tunnel.provider is ngrok (set NGROK_AUTHTOKEN)")
		}
	default:
		return keyErr("tunnel.provider", "must be auto, ngrok or none (got %s)", env.show("tunnel.provider", t.Provider))
	}
	if t.URL != "" {
		if u, err := url.Parse(t.URL); err != nil || u.Host == "" {
			return keyErr("tunnel.url", "must be a URL such as https://office-edge.ngrok.app")
		}
	}
	if t.ConnectURL != "" {
		if err := checkHostPort(t.ConnectURL); err != nil {
			return keyErr("tunnel.connect_url", "%v (got %s)", err, env.show("tunnel.connect_url", t.ConnectURL))
		}
	}
	if err := checkCAFile(t.ConnectCAFile, env); err != nil {
		return err
	}
	if c.Receiver.Listen == "" && !c.TunnelEnabled() {
		return keyErr("receiver.listen", "empty and no tunnel: deliveries could not reach robaws-edge")
	}
	return nil
}

// checkCAFile checks that tunnel.connect_ca_file, when set, exists.
func checkCAFile(path string, env envKeys) error {
	if path == "" {
		return nil
	}
	_, err := os.Stat(path)
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is shown (or not) below
	}
	return keyErr("tunnel.connect_ca_file", "cannot read %s: %w", env.show("tunnel.connect_ca_file", path), err)
}

// validateEndpoints checks the endpoints in name order: names, paths (each
// endpoint its own), events and secrets.
func (c *Config) validateEndpoints(env envKeys) error {
	if len(c.Endpoints) == 0 {
		return keyErr("endpoints", "at least one endpoint is required")
	}
	paths := map[string]string{}
	for _, name := range c.EndpointNames() {
		ep := c.Endpoints[name]
		key := "endpoints." + name
		switch {
		case !validName(name):
			return keyErr(key, "endpoint names use letters, digits, - and _")
		case !strings.HasPrefix(ep.Path, "/"):
			return keyErr(key+".path", "must start with /, such as /api/webhooks/robaws/%s (got %s)", name, env.show(key+".path", ep.Path))
		case paths[ep.Path] != "":
			return keyErr(key+".path", "is the path of endpoint %s too (got %s)", paths[ep.Path], env.show(key+".path", ep.Path))
		case len(ep.Events) == 0:
			return keyErr(key+".events", "at least one event is required")
		}
		paths[ep.Path] = name
		if i := slices.Index(ep.Secrets, ""); i >= 0 {
			return keyErr(fmt.Sprintf("%s.secrets[%d]", key, i), "is empty")
		}
	}
	return nil
}

// validateRobaws checks where and how fast robaws-edge calls Robaws' API.
func (c *Config) validateRobaws(envKeys) error {
	r := c.Robaws
	if u, err := url.Parse(r.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr("robaws.base_url", "must be an http(s) URL")
	}
	switch {
	case r.RequestsPerSecond <= 0 || r.RequestsPerSecond > MaxRequestsPerSecond:
		return keyErr("robaws.requests_per_second", "must be more than 0 and at most %d: Robaws allows %d requests a second (got %v)", MaxRequestsPerSecond, MaxRequestsPerSecond, r.RequestsPerSecond)
	case r.DailyReserve < 0:
		return keyErr("robaws.daily_reserve", "must not be negative (0 never holds a sync back; default 1000)")
	}
	return nil
}

func (c *Config) validateHealth(envKeys) error {
	switch {
	case c.Health.SilenceAfter < 0:
		return keyErr("health.silence_after", "must not be negative: a duration such as 24h or 1d, or 0 for off")
	case c.Health.RejectedWindow <= 0:
		return keyErr("health.rejected_window", "must be a positive duration such as 15m")
	case c.Health.RejectedMin < 1:
		return keyErr("health.rejected_min", "must be at least 1 (default 3)")
	}
	return nil
}

// validateRobawsSync checks the rest of the robaws section: the sync
// interval and the credentials.
func (c *Config) validateRobawsSync(envKeys) error {
	switch {
	case c.Robaws.SyncInterval < 0:
		return keyErr("robaws.sync_interval", "must not be negative (0 disables)")
	case (c.Robaws.Username == "") != (c.Robaws.Password == ""):
		return keyErr("robaws.password", "username and password go together")
	}
	return nil
}

func (c *Config) validateCustomers(envKeys) error {
	cu := c.Customers
	switch {
	case len(cu.DefaultCountry) != 2 || strings.ToUpper(cu.DefaultCountry) != cu.DefaultCountry:
		return keyErr("customers.default_country", "must be a two-letter upper-case country code such as BE")
	case cu.RoleField == "":
		return keyErr("customers.role_field", "required")
	case cu.PricingField == "":
		return keyErr("customers.pricing_field", "required")
	}
	return nil
}

func (c *Config) validateRetention(envKeys) error {
	if c.Retention.MaxAge < 0 {
		return keyErr("retention.max_age", "must not be negative (0 keeps all)")
	}
	return nil
}

// TunnelEnabled reports whether the config asks for an ngrok tunnel:
// provider ngrok, or auto with an authtoken.
func (c *Config) TunnelEnabled() bool {
	return c.Tunnel.Provider == "ngrok" || (c.Tunnel.Provider == "auto" && c.Tunnel.Authtoken != "")
}

// TunnelProvider is the tunnel's provider as health shows it: "none" when
// tunnel.provider says so, else "ngrok" (auto without an authtoken is
// ngrok's tunnel, disabled until a token is set).
func (c *Config) TunnelProvider() string {
	if c.Tunnel.Provider == "none" {
		return "none"
	}
	return "ngrok"
}

// EndpointNames returns the names of the endpoints, sorted.
func (c *Config) EndpointNames() []string { return slices.Sorted(maps.Keys(c.Endpoints)) }

// Registers reports the endpoint's auto_register (default true).
func (e EndpointConfig) Registers() bool { return e.AutoRegister == nil || *e.AutoRegister }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func validName(s string) bool { return nameRE.MatchString(s) }

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port, such as 127.0.0.1:8080")
	}
	if port == "" {
		return errors.New("must be host:port with a port, such as 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("must be host:port with a port from 1 to 65535, such as 127.0.0.1:8080")
	}
	return nil
}

// sameAddr reports whether two host:port addresses are one listener: the
// same port on the same host, or on a wildcard host.
func sameAddr(a, b string) bool {
	ha, hb, ok := samePort(a, b)
	return ok && (ha == hb || isWildcardHost(ha) || isWildcardHost(hb))
}

// samePort splits two host:port addresses into their hosts; ok says both
// are host:port with one port.
func samePort(a, b string) (ha, hb string, ok bool) {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	return ha, hb, err1 == nil && err2 == nil && pa == pb
}

// isWildcardHost reports whether a listener on host h listens on every
// address of this machine.
func isWildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

// IsLoopback reports whether addr (host:port) listens on this machine only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostNameRE is a DNS host name: dot-separated labels of letters, digits
// and inner hyphens.
var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// validHostName reports whether h is a host name as a browser sends it in
// Host, without port or scheme.
func validHostName(h string) bool { return len(h) <= 253 && hostNameRE.MatchString(h) }
