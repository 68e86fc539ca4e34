// Package configs is robaws-edge's configuration file (SPEC §3): the Config
// type with every default in one place (DefaultConfig), a strict YAML
// loader that expands ${VAR} from the environment (Load, ReadFile, Parse),
// Validate, which refuses everything `run` would refuse, and the commented
// example file `config init` writes (Example).
//
// Validate (validate.go; forward.go for the forward section) checks one
// section after another in a fixed order and reports the first problem
// found, as a *KeyError naming its key.
//
// Errors name the key, the value and the accepted forms, but never a
// secret's value nor a value that came from a ${VAR}: Parse checks the YAML
// tree against Config's types itself (decode.go) instead of reading yaml's
// error texts, and scrubs what it returns as a last guard.
package configs

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// example is robaws-edge.example.yaml, written by `config init`.
//
//go:embed robaws-edge.example.yaml
var example string

// Example returns the commented example configuration: every key with its
// built-in default (a test checks it against DefaultConfig).
func Example() string { return example }

// Config is the YAML configuration file (SPEC §3). Every key is optional:
// a key left out keeps its default from DefaultConfig, which each field's
// comment gives too. Keep configs/robaws-edge.example.yaml in step with
// it: a test checks both.
type Config struct {
	// DataDir holds the database; "" (the default) is the platform's
	// directory (DataDirPath).
	DataDir string `yaml:"data_dir"`
	// Log is how robaws-edge logs.
	Log LogConfig `yaml:"log"`
	// Receiver is the public webhook receiver.
	Receiver ReceiverConfig `yaml:"receiver"`
	// Admin is the local JSON API and console.
	Admin AdminConfig `yaml:"admin"`
	// Tunnel is the ngrok tunnel that brings deliveries in.
	Tunnel TunnelConfig `yaml:"tunnel"`
	// Endpoints are the webhook endpoints by name (letters, digits, - and
	// _); at least one. A file that names endpoints lists all of them; the
	// default is one, customers (see EndpointConfig).
	Endpoints map[string]EndpointConfig `yaml:"endpoints"`
	// Robaws is how robaws-edge calls Robaws' API.
	Robaws RobawsConfig `yaml:"robaws"`
	// Customers is how a Robaws client becomes a customer record.
	Customers CustomersConfig `yaml:"customers"`
	// Retention is how long the log keeps entries.
	Retention RetentionConfig `yaml:"retention"`
	// Health says when robaws-edge reports a health problem.
	Health HealthConfig `yaml:"health"`
	// Forward holds the destinations, by name (SPEC §8); none by default.
	Forward map[string]ForwardConfig `yaml:"forward"`
}

// LogConfig is the log section.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// ReceiverConfig is the receiver section.
type ReceiverConfig struct {
	// Listen is the host:port of the local listener for deliveries, besides
	// the tunnel; "" is none, and then a tunnel is required. Default
	// 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// MaxBodyBytes: a larger body is answered 413 and not stored. Positive;
	// default 1 MiB (1048576).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// SignatureTolerance is how far the signed timestamp may lie in the
	// past or the future. Positive; default 5m.
	SignatureTolerance Duration `yaml:"signature_tolerance"`
	// QuarantineMaxBytes caps the payloads kept of rejected deliveries, in
	// total; the oldest go first. Positive; default 64 MiB (67108864).
	QuarantineMaxBytes int64 `yaml:"quarantine_max_bytes"`
	// RejectedPerMinute caps the rejected deliveries logged a minute;
	// beyond it only a counter grows. Positive; default 600.
	RejectedPerMinute int `yaml:"rejected_per_minute"`
	// MaxConnections caps the receiver's open connections, receiver.listen
	// and the tunnel together; MaxConnectionsPerIP those from one client IP
	// (tunnel connections carry the real client's IP). Over a cap the
	// oldest idle connection is closed to make room; with none idle the new
	// connection is closed at once. Both positive, the second at most the
	// first; defaults 512 and 64.
	MaxConnections      int `yaml:"max_connections"`
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// HeaderTimeout bounds the wait for a request's line and headers, on a
	// new connection and from the first byte of a keep-alive connection's
	// next request (SPEC §3 is silent). Positive; default 5s.
	HeaderTimeout Duration `yaml:"header_timeout"`
}

// AdminConfig is the admin section (the local JSON API and console).
type AdminConfig struct {
	// Listen is the host:port of the local JSON API and console, which the
	// CLI talks to. Required, not receiver.listen; default 127.0.0.1:8787.
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>" by
	// every /api and /metrics request, and has at least MinTokenLength
	// characters. Required when Listen is not a loopback address; default
	// none. A secret: no message shows it.
	Token string `yaml:"token"`
	// Hosts are extra host names (besides localhost, IP addresses and this
	// machine's name) that the API and console answer to: the rebinding
	// guard refuses any other Host header. Default none.
	Hosts []string `yaml:"hosts"`
	// MaxFollowers caps the open log streams (GET /api/webhook-logs/stream,
	// the console's live lists, logs --follow); beyond it 503. Positive;
	// default 64.
	MaxFollowers int `yaml:"max_followers"`
}

// MinTokenLength is the shortest admin.token accepted: a token is the only
// thing between the office network and the console.
const MinTokenLength = 16

// TunnelConfig is the tunnel section.
type TunnelConfig struct {
	// Provider is auto, ngrok or none; auto (the default) is ngrok when
	// Authtoken is set (TunnelEnabled).
	Provider string `yaml:"provider"`
	// Authtoken is the ngrok authtoken, required for provider ngrok.
	// Default ${NGROK_AUTHTOKEN}. A secret: no message shows it.
	Authtoken string `yaml:"authtoken"`
	// URL is a reserved ngrok URL such as https://office-edge.ngrok.app;
	// "" (the default) is a random one.
	URL string `yaml:"url"`
	// ConnectURL is the ngrok agent ingress host:port, for networks that
	// need one (tests use it too). Default "".
	ConnectURL string `yaml:"connect_url"`
	// ConnectCAFile is a PEM bundle to trust for ConnectURL; it must exist
	// when set. Default "".
	ConnectCAFile string `yaml:"connect_ca_file"`
}

// EndpointConfig is one entry of the endpoints section. The customers
// endpoint keeps its default path (/api/webhooks/robaws/customers) and
// events (client.created, client.updated) when the file leaves them out.
type EndpointConfig struct {
	// Path is the receiver's path for this endpoint: it starts with / and
	// is no other endpoint's. Required.
	Path string `yaml:"path"`
	// Events are the Robaws events the endpoint takes; at least one.
	Events []string `yaml:"events"`
	// Secrets are signing secrets that are always active, besides those
	// kept in the database; none empty. Default none. Secrets: no message
	// shows them.
	Secrets []string `yaml:"secrets"`
	// AutoRegister keeps a Robaws registration pointing at the public URL;
	// nil (the default) is true (Registers).
	AutoRegister *bool `yaml:"auto_register"`
}

// RobawsConfig is the robaws section.
type RobawsConfig struct {
	// BaseURL is Robaws' http(s) address. Default https://app.robaws.com.
	BaseURL string `yaml:"base_url"`
	// Username and Password are HTTP basic auth (an API-only Robaws user):
	// both or neither. Default none. Password is a secret.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is a Bearer API key, the other way in. Default none. A secret.
	APIKey string `yaml:"api_key"`
	// RequestsPerSecond is more than 0 and at most MaxRequestsPerSecond.
	// Default 10.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// SyncInterval is how often the customer cache is reconciled with
	// Robaws in the background; 0 disables, negative is refused. Default
	// 24h.
	SyncInterval Duration `yaml:"sync_interval"`
	// ReadReplica sends a sync's GETs with Database-Mode: replica. Default
	// true.
	ReadReplica bool `yaml:"read_replica"`
	// DailyReserve stops a sync when fewer requests are left today; 0
	// never holds one back, negative is refused. Default 1000.
	DailyReserve int `yaml:"daily_reserve"`
}

// HealthConfig is the health section.
type HealthConfig struct {
	// SilenceAfter: no accepted delivery for that long is a health
	// problem; 0 (the default) is off, negative is refused.
	SilenceAfter Duration `yaml:"silence_after"`
	// RejectedWindow and RejectedMin: at least RejectedMin deliveries with
	// a well-formed signature reached an endpoint in the last
	// RejectedWindow and every one was rejected (deliveries_rejected).
	// A positive duration and at least 1; defaults 15m and 3.
	RejectedWindow Duration `yaml:"rejected_window"`
	RejectedMin    int      `yaml:"rejected_min"`
}

// MaxRequestsPerSecond is Robaws' per-second limit (SPEC §5).
const MaxRequestsPerSecond = 15

// CustomersConfig is the customers section.
type CustomersConfig struct {
	// DefaultCountry is the two-letter upper-case country code for
	// national phone numbers and digits-only VAT numbers. Default BE.
	DefaultCountry string `yaml:"default_country"`
	// RoleField is the extraFields key (name, case-insensitive, or field
	// UUID) holding the role. Required; default Role.
	RoleField string `yaml:"role_field"`
	// PricingField is the extraFields key holding the pricing tier.
	// Required; default PRICING.
	PricingField string `yaml:"pricing_field"`
}

// RetentionConfig is the retention section.
type RetentionConfig struct {
	// MaxAge: log entries (and their payloads) older than this are pruned
	// daily; 0 keeps all, negative is refused. Default 2160h (90 days).
	MaxAge Duration `yaml:"max_age"`
}

const defaultEndpointName = "customers"

func defaultEndpoint() EndpointConfig {
	return EndpointConfig{
		Path:   "/api/webhooks/robaws/customers",
		Events: []string{"client.created", "client.updated"},
	}
}

// DefaultConfig returns the built-in configuration used when no file
// exists. The ngrok authtoken comes from NGROK_AUTHTOKEN, as in the template.
func DefaultConfig() Config {
	return Config{
		Log: LogConfig{Level: "info", Format: "text"},
		Receiver: ReceiverConfig{
			Listen:             "127.0.0.1:8080",
			MaxBodyBytes:       1 << 20,
			SignatureTolerance: Duration(5 * time.Minute),
			QuarantineMaxBytes: 64 << 20,
			RejectedPerMinute:  600,

			MaxConnections:      512,
			MaxConnectionsPerIP: 64,
			HeaderTimeout:       Duration(5 * time.Second),
		},
		Admin:     AdminConfig{Listen: "127.0.0.1:8787", MaxFollowers: 64},
		Tunnel:    TunnelConfig{Provider: "auto", Authtoken: os.Getenv("NGROK_AUTHTOKEN")},
		Endpoints: map[string]EndpointConfig{defaultEndpointName: defaultEndpoint()},
		Robaws: RobawsConfig{
			BaseURL:           "https://app.robaws.com",
			RequestsPerSecond: 10,
			SyncInterval:      Duration(24 * time.Hour),
			ReadReplica:       true,
			DailyReserve:      1000,
		},
		Customers: CustomersConfig{DefaultCountry: "BE", RoleField: "Role", PricingField: "PRICING"},
		Retention: RetentionConfig{MaxAge: Duration(2160 * time.Hour)},
		Health:    HealthConfig{RejectedWindow: Duration(15 * time.Minute), RejectedMin: 3},
	}
}

// ReadFile reads, expands and validates the file at path. A file that
// cannot be read gives os.ReadFile's error (fs.ErrNotExist when missing);
// any other error names the file, then the key (see Parse).
func ReadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// LoadAdmin reads only admin.listen and admin.token from the config that
// Load would use: what a command that talks to the daemon needs (SPEC §6).
// Other keys are not validated, so a secret variable that is unset in the
// admin's shell does not stop `status` or `logs`. An admin.token written as
// a ${VAR} that is unset is an error: auth must not silently turn off.
func LoadAdmin(path string) (listen, token string, err error) {
	def := DefaultConfig()
	if path == "" {
		path = DefaultConfigPath()
		if !fileThere(path) {
			return def.Admin.Listen, def.Admin.Token, nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var doc struct {
		Admin struct {
			Listen *string `yaml:"listen"`
			Token  *string `yaml:"token"`
		} `yaml:"admin"`
	}
	env := envPaths(data)
	expanded, _ := expandEnv(data)
	if err := yaml.Unmarshal(expanded, &doc); err != nil {
		// The yaml error may quote expanded text: say less.
		return "", "", fmt.Errorf("config %s: not valid YAML; robaws-edge config check --config %s names the line", path, path)
	}
	listen, token = def.Admin.Listen, ""
	if doc.Admin.Listen != nil {
		listen = *doc.Admin.Listen
	}
	if doc.Admin.Token != nil {
		token = *doc.Admin.Token
	}
	if token == "" && env.has("admin.token") {
		return "", "", fmt.Errorf("config %s: admin.token: %s in this shell; set it (the daemon's token) or the CLI cannot authenticate", path, cmp.Or(env.unset("admin.token"), "its ${VAR} is empty"))
	}
	if err := checkHostPort(listen); err != nil {
		return "", "", fmt.Errorf("config %s: admin.listen: %w", path, err)
	}
	return listen, token, nil
}

// Load reads path, or, when path is empty, the default path if a file
// exists there, else the built-in defaults. It returns the file used ("" for
// defaults) and the first problem Validate or ReadFile finds.
func Load(path string) (Config, string, error) {
	if path == "" {
		def := DefaultConfigPath()
		if !fileThere(def) {
			cfg := DefaultConfig()
			return cfg, "", cfg.Validate()
		}
		path = def
	}
	cfg, err := ReadFile(path)
	return cfg, path, err
}

// fileThere reports whether something is at path, the default config path:
// false only when nothing is. Any other error (a directory that may not be
// searched, a path through a file) is left to the read, which reports it: a
// config that is there but cannot be read must not silently give way to
// the built-in defaults.
func fileThere(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// Parse decodes YAML strictly over the defaults and validates it. A file
// that names endpoints defines all of them; the customers endpoint keeps
// its default path and events. Errors name the key (and line) that is
// wrong: a *KeyError for a key's value, a plain error for YAML that does
// not parse or a key that does not exist. They never show a value that came from a ${VAR} or a secret's
// value (SPEC §6): a value typed literally in the file (not a secret) is
// shown, so the reader can find it.
func Parse(data []byte) (Config, error) {
	cfg := DefaultConfig()
	cfg.Endpoints = nil
	env := envPaths(data)
	expanded, values := expandEnv(data)
	err := env.nameUnset(decode(expanded, &cfg, env))
	if err == nil {
		if cfg.Endpoints == nil {
			cfg.Endpoints = map[string]EndpointConfig{defaultEndpointName: defaultEndpoint()}
		}
		if ep, ok := cfg.Endpoints[defaultEndpointName]; ok {
			def := defaultEndpoint()
			if ep.Path == "" {
				ep.Path = def.Path
			}
			if ep.Events == nil {
				ep.Events = def.Events
			}
			cfg.Endpoints[defaultEndpointName] = ep
		}
		for name, f := range cfg.Forward {
			cfg.Forward[name] = f.withDefaults()
		}
		err = env.nameUnset(cfg.validate(env))
	}
	return cfg, scrub(err, append(values, cfg.secretValues()...))
}
