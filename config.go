package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// exampleConfig is configs/robaws-edge.example.yaml, written by `config init`.
//
//go:embed configs/robaws-edge.example.yaml
var exampleConfig []byte

// Config is the YAML configuration file (SPEC §3). Keep
// configs/robaws-edge.example.yaml in step with it: a test checks both.
type Config struct {
	DataDir   string                    `yaml:"data_dir"`
	Log       LogConfig                 `yaml:"log"`
	Receiver  ReceiverConfig            `yaml:"receiver"`
	Admin     AdminConfig               `yaml:"admin"`
	Tunnel    TunnelConfig              `yaml:"tunnel"`
	Endpoints map[string]EndpointConfig `yaml:"endpoints"`
	Robaws    RobawsConfig              `yaml:"robaws"`
	Customers CustomersConfig           `yaml:"customers"`
	Retention RetentionConfig           `yaml:"retention"`
}

// LogConfig is the log section.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// ReceiverConfig is the receiver section.
type ReceiverConfig struct {
	Listen             string        `yaml:"listen"`
	MaxBodyBytes       int           `yaml:"max_body_bytes"`
	SignatureTolerance time.Duration `yaml:"signature_tolerance"`
	QuarantineMaxBytes int64         `yaml:"quarantine_max_bytes"`
	RejectedPerMinute  int           `yaml:"rejected_per_minute"`
	// MaxConnections caps the receiver's open connections, receiver.listen
	// and the tunnel together; MaxConnectionsPerIP those from one client IP
	// (tunnel connections carry the real client's IP). Over a cap a new
	// connection is closed at once.
	MaxConnections      int `yaml:"max_connections"`
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
}

// AdminConfig is the admin section (the local JSON API).
type AdminConfig struct {
	Listen string `yaml:"listen"`
	Token  string `yaml:"token"`
}

// TunnelConfig is the tunnel section.
type TunnelConfig struct {
	Provider      string `yaml:"provider"`
	Authtoken     string `yaml:"authtoken"`
	URL           string `yaml:"url"`
	ConnectURL    string `yaml:"connect_url"`
	ConnectCAFile string `yaml:"connect_ca_file"`
}

// EndpointConfig is one entry of the endpoints section.
type EndpointConfig struct {
	Path         string   `yaml:"path"`
	Events       []string `yaml:"events"`
	Secrets      []string `yaml:"secrets"`
	AutoRegister *bool    `yaml:"auto_register"`
}

// RobawsConfig is the robaws section.
type RobawsConfig struct {
	BaseURL           string        `yaml:"base_url"`
	Username          string        `yaml:"username"`
	Password          string        `yaml:"password"`
	APIKey            string        `yaml:"api_key"`
	RequestsPerSecond float64       `yaml:"requests_per_second"`
	SyncInterval      time.Duration `yaml:"sync_interval"`
}

// CustomersConfig is the customers section.
type CustomersConfig struct {
	DefaultCountry string `yaml:"default_country"`
	RoleField      string `yaml:"role_field"`
	PricingField   string `yaml:"pricing_field"`
}

// RetentionConfig is the retention section.
type RetentionConfig struct {
	MaxAge time.Duration `yaml:"max_age"`
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
			SignatureTolerance: 5 * time.Minute,
			QuarantineMaxBytes: 64 << 20,
			RejectedPerMinute:  600,

			MaxConnections:      512,
			MaxConnectionsPerIP: 64,
		},
		Admin:     AdminConfig{Listen: "127.0.0.1:8787"},
		Tunnel:    TunnelConfig{Provider: "auto", Authtoken: os.Getenv("NGROK_AUTHTOKEN")},
		Endpoints: map[string]EndpointConfig{defaultEndpointName: defaultEndpoint()},
		Robaws: RobawsConfig{
			BaseURL:           "https://app.robaws.com",
			RequestsPerSecond: 10,
			SyncInterval:      24 * time.Hour,
		},
		Customers: CustomersConfig{DefaultCountry: "BE", RoleField: "Role", PricingField: "PRICING"},
		Retention: RetentionConfig{MaxAge: 2160 * time.Hour},
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} with the variable's value ("" when unset).
// A bare $ is left alone so secrets may contain it. It also returns the
// non-empty values it put in, which no error message may show.
func expandEnv(data []byte) ([]byte, []string) {
	var values []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		v := os.Getenv(string(m[2 : len(m)-1]))
		if v != "" {
			values = append(values, v)
		}
		return []byte(v)
	})
	return out, values
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type main\.(\w+)`)

// durationZero matches a duration key set to a bare 0 ("0 disables"),
// which YAML reads as an integer; it becomes "0s".
var durationZero = regexp.MustCompile(`(?m)(\b(?:signature_tolerance|sync_interval|max_age)\s*:\s*)0(\s*(?:[,}#]|$))`)

var errLine = regexp.MustCompile(`line (\d+): (.*)`)

// typeError matches yaml's "cannot unmarshal !!str `value` into int"; the
// value (maybe an expanded secret) is never shown, only its YAML kind.
var typeError = regexp.MustCompile(`^cannot unmarshal !!(\w+)`)

// quotedValue matches the value yaml quotes in its other errors; it may be
// an expanded secret, so errors never show it.
var quotedValue = regexp.MustCompile("`[^`]*` ")

// secretKeys are the keys whose values no message shows, whatever their
// source ("[]" stands for any list element, "*" for any endpoint).
var secretKeys = map[string]bool{
	"admin.token": true, "tunnel.authtoken": true, "robaws.password": true, "robaws.api_key": true,
	"endpoints.*.secrets": true, "endpoints.*.secrets[]": true,
}

// ParseConfig decodes YAML strictly over the defaults and validates it.
// Errors name the key (and line) that is wrong. They never show a value
// that came from a ${VAR} or a secret's value (SPEC §6): a value typed
// literally in the file (not a secret) is shown, so the reader can find it.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	cfg.Endpoints = nil // a file that names endpoints defines all of them
	env := envPaths(data)
	expanded, values := expandEnv(data)
	data = durationZero.ReplaceAll(expanded, []byte("${1}0s${2}"))
	err := decodeConfig(data, &cfg)
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
		err = cfg.validate(env)
	}
	return cfg, scrub(err, append(values, cfg.secretValues()...))
}

// decodeConfig decodes data strictly into cfg, naming the key of an error.
func decodeConfig(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	msg := err.Error()
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown key %q in %s (line %s)", m[2], sectionName(m[3]), m[1])
	}
	if m := errLine.FindStringSubmatch(msg); m != nil {
		if key, typ := keyAtLine(data, m[1]); key != "" {
			if t := typeError.FindStringSubmatch(m[2]); t != nil {
				return keyErr(key, "cannot unmarshal %s: must be %s (line %s)", yamlKind(t[1]), acceptedForm(typ), m[1])
			}
			return keyErr(key, "%s (line %s)", quotedValue.ReplaceAllString(m[2], ""), m[1])
		}
	}
	return fmt.Errorf("parse: %s", quotedValue.ReplaceAllString(strings.TrimPrefix(msg, "yaml: "), ""))
}

// scrub replaces any of values (expanded ${VAR}s, secrets) that still
// appears in err's text. It is the last guard: messages are written not to
// show them in the first place. Values shorter than 4 bytes are left, as
// they would match ordinary words.
func scrub(err error, values []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, v := range values {
		if len(v) >= 4 && strings.Contains(msg, v) {
			msg, changed = strings.ReplaceAll(msg, v, "(value not shown)"), true
		}
	}
	if !changed {
		return err
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{Key: ce.Key, Err: errors.New(strings.TrimPrefix(msg, ce.Key+": "))}
	}
	return errors.New(msg)
}

// secretValues returns the secrets' values, for scrub.
func (c *Config) secretValues() []string {
	vs := []string{c.Admin.Token, c.Tunnel.Authtoken, c.Robaws.Password, c.Robaws.APIKey}
	for _, ep := range c.Endpoints {
		vs = append(vs, ep.Secrets...)
	}
	return vs
}

// envPaths returns the dotted keys (as keyAtLine names them) whose value,
// or whose own name, contains a ${VAR} in the file as written. When the
// file does not parse before expansion, "*" stands for every key.
func envPaths(data []byte) map[string]bool {
	if !envRef.Match(data) {
		return nil
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return map[string]bool{"*": true}
	}
	paths := map[string]bool{}
	walkKeys(&root, func(path string, k, v *yaml.Node, _ reflect.Type) {
		if k != nil && envRef.MatchString(k.Value) || v.Kind == yaml.ScalarNode && envRef.MatchString(v.Value) {
			paths[path] = true
		}
	})
	return paths
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walkKeys calls fn for every mapping entry and list element under n with
// its dotted path (list elements as key[i], with k nil) and the Go type the
// config gives it (nil when it is not part of Config, e.g. a key inside a
// map given where a string belongs).
func walkKeys(n *yaml.Node, fn func(path string, k, v *yaml.Node, t reflect.Type)) {
	var walk func(n *yaml.Node, path string, t reflect.Type)
	walk = func(n *yaml.Node, path string, t reflect.Type) {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, t)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				ct := fieldType(t, k.Value)
				fn(joinKey(path, k.Value), k, v, ct)
				walk(v, joinKey(path, k.Value), ct)
			}
		case yaml.SequenceNode:
			var et reflect.Type
			if t != nil && t.Kind() == reflect.Slice {
				et = t.Elem()
			}
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				fn(p, nil, c, et)
				walk(c, p, et)
			}
		}
	}
	walk(n, "", reflect.TypeFor[Config]())
}

// fieldType is the type of key inside t (a struct with yaml tags or a
// map), or nil.
func fieldType(t reflect.Type, key string) reflect.Type {
	switch {
	case t == nil:
		return nil
	case t.Kind() == reflect.Map:
		return t.Elem()
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); strings.Split(f.Tag.Get("yaml"), ",")[0] == key {
				return f.Type
			}
		}
	}
	return nil
}

// yamlKind names a YAML tag for a message.
func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "a string"
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "null":
		return "an empty value"
	}
	return "!!" + tag
}

// acceptedForm describes what a key of type t takes.
func acceptedForm(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil:
		return "a value of the form shown in the example config"
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 30s, 5m or 24h"
	}
	switch t.Kind() {
	case reflect.String:
		return "a single value (a string)"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list such as [a, b]"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

// keyAtLine returns the deepest config key whose value starts on line
// (1-based), e.g. "receiver.signature_tolerance", and its Go type; "" when
// none. Keys that are not part of Config (such as those of a map given
// where admin.token's string belongs) are never returned: they may be a
// secret's text.
func keyAtLine(data []byte, line string) (string, reflect.Type) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return "", nil
	}
	var found string
	var typ reflect.Type
	walkKeys(&root, func(path string, k, v *yaml.Node, t reflect.Type) {
		if t == nil {
			return
		}
		if strconv.Itoa(v.Line) == line || k != nil && strconv.Itoa(k.Line) == line && v.Kind == yaml.ScalarNode {
			found, typ = path, t
		}
	})
	return found, typ
}

func sectionName(typ string) string {
	names := map[string]string{
		"Config": "the top level", "LogConfig": "log", "ReceiverConfig": "receiver", "AdminConfig": "admin",
		"TunnelConfig": "tunnel", "EndpointConfig": "an endpoint", "RobawsConfig": "robaws",
		"CustomersConfig": "customers", "RetentionConfig": "retention",
	}
	if n, ok := names[typ]; ok {
		return n
	}
	return typ
}

// ReadConfigFile reads and validates the file at path.
func ReadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// LoadConfig reads path, or, when path is empty, the default path if a file
// exists there, else the built-in defaults. It returns the file used ("" for
// defaults).
func LoadConfig(path string) (Config, string, error) {
	if path == "" {
		def := DefaultConfigPath()
		if _, err := os.Stat(def); err != nil {
			cfg := DefaultConfig()
			return cfg, "", cfg.Validate()
		}
		path = def
	}
	cfg, err := ReadConfigFile(path)
	return cfg, path, err
}

// ConfigError names the key that is wrong.
type ConfigError struct {
	Key string
	Err error
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func keyErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate checks every key and returns the first problem, naming the key.
func (c *Config) Validate() error { return c.validate(nil) }

// envKeys holds the keys whose value came from a ${VAR} (envPaths).
type envKeys map[string]bool

// show is value quoted for a message about key, or, when it came from a
// ${VAR} or key is a secret, a note that it is not shown.
func (e envKeys) show(key, value string) string {
	if e[key] || e["*"] {
		return "a value from ${VAR}, not shown"
	}
	if secretKeys[key] {
		return "a secret, not shown"
	}
	return strconv.Quote(value)
}

func (c *Config) validate(env envKeys) error {
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
	if c.Receiver.Listen != "" {
		if err := checkHostPort(c.Receiver.Listen); err != nil {
			return keyErr("receiver.listen", "%v (got %s)", err, env.show("receiver.listen", c.Receiver.Listen))
		}
	}
	switch {
	case c.Receiver.MaxBodyBytes <= 0:
		return keyErr("receiver.max_body_bytes", "must be positive")
	case c.Receiver.SignatureTolerance <= 0:
		return keyErr("receiver.signature_tolerance", "must be a positive duration such as 5m")
	case c.Receiver.QuarantineMaxBytes <= 0:
		return keyErr("receiver.quarantine_max_bytes", "must be positive")
	case c.Receiver.RejectedPerMinute <= 0:
		return keyErr("receiver.rejected_per_minute", "must be positive")
	case c.Receiver.MaxConnections <= 0:
		return keyErr("receiver.max_connections", "must be a positive number of connections, such as 512")
	case c.Receiver.MaxConnectionsPerIP <= 0:
		return keyErr("receiver.max_connections_per_ip", "must be a positive number of connections, such as 64")
	case c.Receiver.MaxConnectionsPerIP > c.Receiver.MaxConnections:
		return keyErr("receiver.max_connections_per_ip", "must not exceed receiver.max_connections (%d)", c.Receiver.MaxConnections)
	}
	if c.Admin.Listen == "" {
		return keyErr("admin.listen", "required (the CLI talks to the daemon through it)")
	}
	if err := checkHostPort(c.Admin.Listen); err != nil {
		return keyErr("admin.listen", "%v (got %s)", err, env.show("admin.listen", c.Admin.Listen))
	}
	if !isLoopback(c.Admin.Listen) && c.Admin.Token == "" {
		return keyErr("admin.token", "required when admin.listen is not a loopback address (admin.listen is %s)", env.show("admin.listen", c.Admin.Listen))
	}
	switch c.Tunnel.Provider {
	case "auto", "none":
	case "ngrok":
		if c.Tunnel.Authtoken == "" {
			return keyErr("tunnel.authtoken", "required when tunnel.provider is ngrok (set NGROK_AUTHTOKEN)")
		}
	default:
		return keyErr("tunnel.provider", "must be auto, ngrok or none (got %s)", env.show("tunnel.provider", c.Tunnel.Provider))
	}
	if c.Tunnel.URL != "" {
		if u, err := url.Parse(c.Tunnel.URL); err != nil || u.Host == "" {
			return keyErr("tunnel.url", "must be a URL such as https://office-edge.ngrok.app")
		}
	}
	if c.Tunnel.ConnectURL != "" {
		if err := checkHostPort(c.Tunnel.ConnectURL); err != nil {
			return keyErr("tunnel.connect_url", "%v (got %s)", err, env.show("tunnel.connect_url", c.Tunnel.ConnectURL))
		}
	}
	if c.Tunnel.ConnectCAFile != "" {
		if _, err := os.Stat(c.Tunnel.ConnectCAFile); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is shown (or not) below
			}
			return keyErr("tunnel.connect_ca_file", "cannot read %s: %w", env.show("tunnel.connect_ca_file", c.Tunnel.ConnectCAFile), err)
		}
	}
	if c.Receiver.Listen == "" && !c.tunnelEnabled() {
		return keyErr("receiver.listen", "empty and no tunnel: deliveries could not reach robaws-edge")
	}
	if len(c.Endpoints) == 0 {
		return keyErr("endpoints", "at least one endpoint is required")
	}
	paths := map[string]string{}
	for _, name := range c.endpointNames() {
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
		for i, s := range ep.Secrets {
			if s == "" {
				return keyErr(fmt.Sprintf("%s.secrets[%d]", key, i), "is empty (an unset ${VAR}?)")
			}
		}
	}
	if u, err := url.Parse(c.Robaws.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr("robaws.base_url", "must be an http(s) URL")
	}
	switch {
	case c.Robaws.RequestsPerSecond <= 0:
		return keyErr("robaws.requests_per_second", "must be positive")
	case c.Robaws.SyncInterval < 0:
		return keyErr("robaws.sync_interval", "must not be negative (0 disables)")
	case (c.Robaws.Username == "") != (c.Robaws.Password == ""):
		return keyErr("robaws.password", "username and password go together")
	case len(c.Customers.DefaultCountry) != 2 || strings.ToUpper(c.Customers.DefaultCountry) != c.Customers.DefaultCountry:
		return keyErr("customers.default_country", "must be a two-letter upper-case country code such as BE")
	case c.Customers.RoleField == "":
		return keyErr("customers.role_field", "required")
	case c.Customers.PricingField == "":
		return keyErr("customers.pricing_field", "required")
	case c.Retention.MaxAge < 0:
		return keyErr("retention.max_age", "must not be negative (0 keeps all)")
	}
	return nil
}

// tunnelEnabled reports whether the config asks for an ngrok tunnel.
func (c *Config) tunnelEnabled() bool {
	return c.Tunnel.Provider == "ngrok" || (c.Tunnel.Provider == "auto" && c.Tunnel.Authtoken != "")
}

func (c *Config) endpointNames() []string {
	names := make([]string, 0, len(c.Endpoints))
	for n := range c.Endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// autoRegister reports the endpoint's auto_register (default true).
func (e EndpointConfig) autoRegister() bool { return e.AutoRegister == nil || *e.AutoRegister }

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
	return nil
}

func isLoopback(addr string) bool {
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

// DataDirPath returns the data directory: data_dir, else the platform default.
func (c *Config) DataDirPath() string {
	if c.DataDir != "" {
		return c.DataDir
	}
	return defaultDataDir()
}

// DBPath is <data dir>/robaws-edge.db.
func (c *Config) DBPath() string { return filepath.Join(c.DataDirPath(), "robaws-edge.db") }

// DefaultConfigPath is the platform's config file location (SPEC §3).
func DefaultConfigPath() string {
	switch runtime.GOOS {
	case "windows":
		return filepath.Join(programData(), "robaws-edge", "config.yaml")
	case "darwin":
		return "/Library/Application Support/robaws-edge/config.yaml"
	}
	return "/etc/robaws-edge/config.yaml"
}

func defaultDataDir() string {
	switch {
	case runtime.GOOS == "windows":
		return filepath.Join(programData(), "robaws-edge")
	case runtime.GOOS == "linux" && os.Geteuid() == 0:
		return "/var/lib/robaws-edge"
	case os.Getenv("XDG_STATE_HOME") != "":
		return filepath.Join(os.Getenv("XDG_STATE_HOME"), "robaws-edge")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".local", "state", "robaws-edge")
}

func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
