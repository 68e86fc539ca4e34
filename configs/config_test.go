package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestExampleConfig parses configs/robaws-edge.example.yaml: it must be
// valid and say exactly what the built-in defaults are.
func TestExampleConfig(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	cfg, err := ReadFile("robaws-edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	t.Setenv("NGROK_AUTHTOKEN", "")
	if diff := cmp.Diff(def, cfg, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b *bool) bool { return (a == nil || *a) == (b == nil || *b) })); diff != "" {
		t.Fatalf("example config differs from DefaultConfig (-default +example):\n%s", diff)
	}
	embedded, err := Parse([]byte(Example()))
	if err != nil {
		t.Fatalf("embedded example: %v", err)
	}
	if diff := cmp.Diff(cfg, embedded); diff != "" {
		t.Fatalf("embedded example differs from the file (-file +embedded):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	t.Setenv("TEST_SECRET", "s3cret")
	t.Setenv("NGROK_AUTHTOKEN", "")
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "empty file is defaults", yaml: "", check: func(t *testing.T, c Config) {
			if c.Receiver.Listen != "127.0.0.1:8080" || c.Endpoints["customers"].Path != "/api/webhooks/robaws/customers" {
				t.Fatalf("got %+v", c)
			}
		}},
		{name: "env expansion", yaml: "endpoints:\n  customers:\n    secrets: [\"${TEST_SECRET}\", \"lit$eral\"]\n", check: func(t *testing.T, c Config) {
			ep := c.Endpoints["customers"]
			if len(ep.Secrets) != 2 || ep.Secrets[0] != "s3cret" || ep.Secrets[1] != "lit$eral" {
				t.Fatalf("secrets = %q", ep.Secrets)
			}
			if ep.Path != "/api/webhooks/robaws/customers" || len(ep.Events) != 2 || !ep.Registers() {
				t.Fatalf("customers defaults lost: %+v", ep)
			}
		}},
		{name: "durations", yaml: "receiver:\n  signature_tolerance: 90s\nrobaws: {base_url: \"https://x.example\", sync_interval: 0}\n", check: func(t *testing.T, c Config) {
			if c.Receiver.SignatureTolerance != Duration(90*time.Second) || c.Robaws.SyncInterval != 0 {
				t.Fatalf("got %v %v", c.Receiver.SignatureTolerance, c.Robaws.SyncInterval)
			}
		}},
		{name: "endpoints replace", yaml: "endpoints:\n  articles:\n    path: /a\n    events: [article.updated]\n", check: func(t *testing.T, c Config) {
			if len(c.Endpoints) != 1 || c.Endpoints["articles"].Path != "/a" {
				t.Fatalf("endpoints = %+v", c.Endpoints)
			}
		}},
		{name: "unknown top-level key", yaml: "datadir: /x\n", wantErr: `unknown key "datadir" in the top level (line 1)`},
		{name: "unknown nested key", yaml: "receiver:\n  listne: x\n", wantErr: `unknown key "listne" in receiver (line 2)`},
		{name: "unknown endpoint key", yaml: "endpoints:\n  customers:\n    secret: x\n", wantErr: `unknown key "secret" in an endpoint (line 3)`},
		{name: "days", yaml: "retention: {max_age: 90d}\nrobaws: {sync_interval: 1d12h}\nreceiver: {signature_tolerance: \"0d5m\"}\n", check: func(t *testing.T, c Config) {
			if c.Retention.MaxAge != Duration(90*24*time.Hour) || c.Robaws.SyncInterval != Duration(36*time.Hour) || c.Receiver.SignatureTolerance != Duration(5*time.Minute) {
				t.Fatalf("got %v %v %v, want 2160h 36h 5m", c.Retention.MaxAge, c.Robaws.SyncInterval, c.Receiver.SignatureTolerance)
			}
		}},
		{name: "bad duration", yaml: "receiver:\n  signature_tolerance: soon\n", wantErr: `receiver.signature_tolerance: must be a duration such as 30s, 5m, 24h or 90d (1d = 24h) (got "soon", line 2)`},
		{name: "bare number duration", yaml: "robaws:\n  sync_interval: 24\n", wantErr: `robaws.sync_interval: must be a duration such as 30s, 5m, 24h or 90d (1d = 24h) (got "24", line 2)`},
		{name: "duration as a list", yaml: "retention:\n  max_age: [1d]\n", wantErr: "retention.max_age: cannot unmarshal a list: must be a duration such as 30s, 5m, 24h or 90d (1d = 24h) (line 2)"},
		{name: "negative days", yaml: "retention:\n  max_age: -1d\n", wantErr: "retention.max_age: must not be negative"},
		{name: "bad number", yaml: "receiver:\n  max_body_bytes: lots\n", wantErr: "receiver.max_body_bytes: cannot unmarshal a string: must be a whole number (line 2)"},
		{name: "connection caps", yaml: "receiver:\n  max_connections: 100\n  max_connections_per_ip: 10\n", check: func(t *testing.T, c Config) {
			if c.Receiver.MaxConnections != 100 || c.Receiver.MaxConnectionsPerIP != 10 {
				t.Fatalf("got %d, %d, want 100, 10", c.Receiver.MaxConnections, c.Receiver.MaxConnectionsPerIP)
			}
		}},
		{name: "connection cap defaults", yaml: "", check: func(t *testing.T, c Config) {
			if c.Receiver.MaxConnections != 512 || c.Receiver.MaxConnectionsPerIP != 64 {
				t.Fatalf("got %d, %d, want 512, 64", c.Receiver.MaxConnections, c.Receiver.MaxConnectionsPerIP)
			}
		}},
		{name: "zero connections", yaml: "receiver:\n  max_connections: 0\n", wantErr: "receiver.max_connections: must be a positive number"},
		{name: "negative per-IP connections", yaml: "receiver:\n  max_connections_per_ip: -1\n", wantErr: "receiver.max_connections_per_ip: must be a positive number"},
		{name: "per-IP over total", yaml: "receiver:\n  max_connections: 10\n  max_connections_per_ip: 11\n", wantErr: "receiver.max_connections_per_ip: must not exceed receiver.max_connections (10)"},
		{name: "header timeout", yaml: "receiver:\n  header_timeout: 2500ms\n", check: func(t *testing.T, c Config) {
			if c.Receiver.HeaderTimeout != Duration(2500*time.Millisecond) {
				t.Fatalf("got %v, want 2.5s", c.Receiver.HeaderTimeout)
			}
		}},
		{name: "header timeout default", yaml: "", check: func(t *testing.T, c Config) {
			if c.Receiver.HeaderTimeout != Duration(5*time.Second) {
				t.Fatalf("got %v, want 5s", c.Receiver.HeaderTimeout)
			}
		}},
		{name: "zero header timeout", yaml: "receiver:\n  header_timeout: 0s\n", wantErr: "receiver.header_timeout: must be a positive duration such as 5s"},
		{name: "header timeout not a duration", yaml: "receiver:\n  header_timeout: 5\n", wantErr: "receiver.header_timeout: must be a duration"},
		{name: "connections not a number", yaml: "receiver:\n  max_connections: many\n", wantErr: "receiver.max_connections: cannot unmarshal a string: must be a whole number"},
		{name: "bad level", yaml: "log:\n  level: loud\n", wantErr: "log.level"},
		{name: "bad format", yaml: "log:\n  format: xml\n", wantErr: "log.format"},
		// A value typed literally is shown (it is not a secret); one from a
		// ${VAR} is not (TestConfigErrorsHideSecrets).
		{name: "bad listen", yaml: "receiver:\n  listen: nope\n", wantErr: `receiver.listen: must be host:port, such as 127.0.0.1:8080 (got "nope")`},
		{name: "zero body", yaml: "receiver:\n  max_body_bytes: 0\n", wantErr: "receiver.max_body_bytes"},
		{name: "public admin without token", yaml: "admin:\n  listen: 0.0.0.0:8787\n", wantErr: "admin.token"},
		{name: "public admin with a short token", yaml: "admin:\n  listen: 0.0.0.0:8787\n  token: a\n", wantErr: "admin.token: too short: use at least 16 characters"},
		{name: "admin token of 15", yaml: "admin:\n  token: \"123456789012345\"\n", wantErr: "admin.token: too short"},
		{name: "admin token of 16", yaml: "admin:\n  listen: 0.0.0.0:8787\n  token: \"1234567890123456\"\n", check: func(t *testing.T, c Config) {
			if c.Admin.Token != "1234567890123456" || c.Admin.MaxFollowers != 64 {
				t.Fatalf("admin = %+v", c.Admin)
			}
		}},
		{name: "admin token of 15 characters in 30 bytes", yaml: "admin:\n  token: \"ééééééééééééééé\"\n", wantErr: "admin.token: too short"},
		{name: "admin hosts", yaml: "admin:\n  hosts: [edge.office.lan, EDGE-PC]\n  max_followers: 5\n", check: func(t *testing.T, c Config) {
			if len(c.Admin.Hosts) != 2 || c.Admin.MaxFollowers != 5 {
				t.Fatalf("admin = %+v", c.Admin)
			}
		}},
		{name: "admin host with a port", yaml: "admin:\n  hosts: [\"edge.office.lan:8787\"]\n", wantErr: "admin.hosts[0]: must be a host name without port or scheme"},
		{name: "admin host a URL", yaml: "admin:\n  hosts: [\"http://edge\"]\n", wantErr: "admin.hosts[0]"},
		{name: "no followers", yaml: "admin:\n  max_followers: 0\n", wantErr: "admin.max_followers: must be a positive number"},
		{name: "bad provider", yaml: "tunnel:\n  provider: cloudflare\n", wantErr: "tunnel.provider"},
		{name: "ngrok without token", yaml: "tunnel:\n  provider: ngrok\n", wantErr: "tunnel.authtoken"},
		{name: "no receiver, no tunnel", yaml: "receiver:\n  listen: \"\"\n", wantErr: "receiver.listen"},
		{name: "relative path", yaml: "endpoints:\n  x:\n    path: api\n    events: [a]\n", wantErr: "endpoints.x.path"},
		{name: "duplicate path", yaml: "endpoints:\n  a:\n    path: /p\n    events: [a]\n  b:\n    path: /p\n    events: [a]\n", wantErr: "endpoints.b.path"},
		{name: "no events", yaml: "endpoints:\n  x:\n    path: /x\n    events: []\n", wantErr: "endpoints.x.events"},
		{name: "unset secret var", yaml: "endpoints:\n  customers:\n    secrets: [\"${NOT_SET_ANYWHERE}\"]\n", wantErr: "endpoints.customers.secrets[0]"},
		{name: "bad base url", yaml: "robaws:\n  base_url: ftp://x\n", wantErr: "robaws.base_url"},
		{name: "user without password", yaml: "robaws:\n  username: u\n", wantErr: "robaws.password"},
		{name: "bad country", yaml: "customers:\n  default_country: bel\n", wantErr: "customers.default_country"},
		{name: "negative retention", yaml: "retention:\n  max_age: -1h\n", wantErr: "retention.max_age"},
		{name: "not yaml", yaml: "receiver: [\n", wantErr: "parse"},
		// What run refuses, config check refuses (SPEC §6).
		{name: "port out of range", yaml: "receiver:\n  listen: 127.0.0.1:70000\n", wantErr: "receiver.listen: must be host:port with a port from 1 to 65535"},
		{name: "port zero", yaml: "admin:\n  listen: 127.0.0.1:0\n", wantErr: "admin.listen: must be host:port with a port from 1 to 65535"},
		{name: "port a name", yaml: "admin:\n  listen: localhost:http\n", wantErr: "admin.listen"},
		{name: "receiver is admin", yaml: "receiver:\n  listen: 127.0.0.1:8787\n", wantErr: "admin.listen: is receiver.listen too"},
		{name: "receiver wildcard is admin", yaml: "receiver:\n  listen: 0.0.0.0:8787\n", wantErr: "admin.listen: is receiver.listen too"},
		{name: "unset admin token var", yaml: "admin:\n  token: \"${NOT_SET_ANYWHERE}\"\n", wantErr: "admin.token: expanded to nothing (${NOT_SET_ANYWHERE} is not set)"},
		// An unset ${VAR} is named wherever it leaves a value empty.
		{name: "unset var named", yaml: "endpoints:\n  customers:\n    secrets: [\"${NOT_SET_ANYWHERE}\"]\n", wantErr: "endpoints.customers.secrets[0]: is empty (${NOT_SET_ANYWHERE} is not set in this environment)"},
		{name: "unset duration var named", yaml: "receiver:\n  signature_tolerance: \"${NOT_SET_TOLERANCE}\"\n", wantErr: "(${NOT_SET_TOLERANCE} is not set in this environment)"},
		{name: "unset forward secret var named", yaml: "forward:\n  app:\n    kind: http\n    url: http://127.0.0.1:9000/x\n    secret: \"${NOT_SET_FORWARD_SECRET}\"\n", wantErr: "(${NOT_SET_FORWARD_SECRET} is not set in this environment)"},
		{name: "too many requests per second", yaml: "robaws:\n  requests_per_second: 16\n", wantErr: "robaws.requests_per_second: must be more than 0 and at most 15"},
		{name: "negative reserve", yaml: "robaws:\n  daily_reserve: -1\n", wantErr: "robaws.daily_reserve"},
		{name: "silence in days", yaml: "health:\n  silence_after: 1d\n", check: func(t *testing.T, c Config) {
			if c.Health.SilenceAfter != Duration(24*time.Hour) || !c.Robaws.ReadReplica || c.Robaws.DailyReserve != 1000 {
				t.Fatalf("health %v, read_replica %v, daily_reserve %d", c.Health.SilenceAfter, c.Robaws.ReadReplica, c.Robaws.DailyReserve)
			}
		}},
		{name: "negative silence", yaml: "health:\n  silence_after: -1h\n", wantErr: "health.silence_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one naming %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %q contains a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestConfigErrorsHideSecrets: a config error names the key and the accepted
// form, never a secret's value, a value that came from ${VAR}, nor the keys
// of a map given where a secret belongs (SPEC §6).
func TestConfigErrorsHideSecrets(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	t.Setenv("BAD_LISTEN", "s3cret-listen-value")
	t.Setenv("BAD_ADMIN", "s3cret-admin-host:8787")
	t.Setenv("A_TOKEN", "s3cret-token-value")
	t.Setenv("BAD_LEVEL", "s3cret-level")
	t.Setenv("BAD_NUMBER", "s3cret`number` value")
	t.Setenv("BAD_KEY", "s3cret_key_name")
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"map under admin.token", "admin:\n  token:\n    s3cret-map-key: x\n",
			"admin.token: cannot unmarshal a mapping: must be a single value (a string) (line 3)"},
		{"flow map under admin.token", "admin:\n  token: {s3cret-map-key: x}\n",
			"admin.token: cannot unmarshal a mapping: must be a single value (a string) (line 2)"},
		{"list under tunnel.authtoken", "tunnel:\n  authtoken: [s3cret-item]\n",
			"tunnel.authtoken: cannot unmarshal a list: must be a single value (a string) (line 2)"},
		{"map under robaws.password", "robaws:\n  username: u\n  password:\n    s3cret-map-key: x\n",
			"robaws.password: cannot unmarshal a mapping: must be a single value (a string) (line 4)"},
		{"map under robaws.api_key", "robaws:\n  api_key: {s3cret-map-key: 1}\n",
			"robaws.api_key: cannot unmarshal a mapping: must be a single value (a string) (line 2)"},
		{"map in endpoint secrets", "endpoints:\n  customers:\n    secrets:\n      - s3cret-map-key: x\n",
			"endpoints.customers.secrets[0]: cannot unmarshal a mapping: must be a single value (a string) (line 4)"},
		{"expanded listen", "receiver:\n  listen: \"${BAD_LISTEN}\"\n",
			"receiver.listen: must be host:port, such as 127.0.0.1:8080 (got a value from ${VAR}, not shown)"},
		{"expanded admin listen needing a token", "admin:\n  listen: \"${BAD_ADMIN}\"\n",
			"admin.token: required when admin.listen is not a loopback address (admin.listen is a value from ${VAR}, not shown)"},
		{"expanded level", "log:\n  level: ${BAD_LEVEL}\n",
			"log.level: must be debug, info, warn or error (got a value from ${VAR}, not shown)"},
		{"expanded number with backquotes", "receiver:\n  max_body_bytes: ${BAD_NUMBER}\n",
			"receiver.max_body_bytes: cannot unmarshal a string: must be a whole number (line 2)"},
		{"expanded unknown key", "${BAD_KEY}: 1\n", "unknown key"},
		{"expanded duration", "receiver:\n  signature_tolerance: ${BAD_LEVEL}\n",
			"receiver.signature_tolerance: must be a duration such as 30s, 5m, 24h or 90d (1d = 24h) (got a value from ${VAR}, not shown, line 2)"},
		{"token expanded into a map key", "admin:\n  token:\n    ${A_TOKEN}: x\n",
			"admin.token: cannot unmarshal a mapping"},
		{"short token typed in", "admin:\n  token: s3cret-short\n", "admin.token: too short: use at least 16 characters"},
		{"short token from a variable", "admin:\n  listen: 0.0.0.0:8787\n  token: \"${SHORT_TOKEN}\"\n", "admin.token: too short"},
	}
	t.Setenv("SHORT_TOKEN", "s3cret-tok")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q shows a secret or expanded value", err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true}, {"5m", 5 * time.Minute, true}, {"1h30m", 90 * time.Minute, true},
		{"90d", 90 * 24 * time.Hour, true}, {"1d12h", 36 * time.Hour, true}, {"-2d", -48 * time.Hour, true},
		{"0d", 0, true}, {"+1d", 24 * time.Hour, true},
		{"", 0, false}, {"d", 0, false}, {"1.5d", 0, false}, {"1d-1h", 0, false}, {"12h1d", 0, false},
		{"1d1d", 0, false}, {"300", 0, false}, {"999999999d", 0, false}, {"soon", 0, false},
	} {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, time.Duration(got), err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "1d = 24h") {
			t.Errorf("ParseDuration(%q) error %q does not name the day form", tt.in, err)
		}
	}
}

// TestLoadAdmin: commands that talk to the daemon read only admin.listen
// and admin.token, so an endpoint secret unset in the admin's shell does not
// stop them; an unset ${VAR} for the token is an error, never "no auth".
func TestLoadAdmin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("ADMIN_TOKEN_SET", "tok-from-env")
	p := write("a.yaml", "admin: {listen: \"127.0.0.1:9999\", token: \"${ADMIN_TOKEN_SET}\"}\nendpoints:\n  customers:\n    secrets: [\"${UNSET_CUSTOMERS_SECRET}\"]\n")
	if _, err := ReadFile(p); err == nil {
		t.Fatal("ReadFile accepted an unset secret")
	}
	listen, token, err := LoadAdmin(p)
	if err != nil || listen != "127.0.0.1:9999" || token != "tok-from-env" {
		t.Fatalf("LoadAdmin = %q %q %v", listen, token, err)
	}
	p = write("b.yaml", "admin: {token: \"${UNSET_ADMIN_TOKEN}\"}\n")
	if _, _, err := LoadAdmin(p); err == nil || !strings.Contains(err.Error(), "admin.token") || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("LoadAdmin with an unset token var = %v, want an error naming admin.token", err)
	}
	p = write("c.yaml", "receiver: {listen: \"127.0.0.1:8080\"}\n")
	if listen, token, err := LoadAdmin(p); err != nil || listen != "127.0.0.1:8787" || token != "" {
		t.Fatalf("LoadAdmin defaults = %q %q %v", listen, token, err)
	}
}

// TestFileThere: Load and LoadAdmin fall back to the built-in defaults
// only when nothing is at the default path; a path that exists but cannot
// be read is reported by the read, never replaced by the defaults.
func TestFileThere(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("log: {level: debug}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       bool
	}{
		{"missing", filepath.Join(dir, "missing.yaml"), false},
		{"missing directory", filepath.Join(dir, "none", "config.yaml"), false},
		{"a file", file, true},
		{"through a file", filepath.Join(file, "config.yaml"), true}, // ENOTDIR, not "does not exist"
	}
	for _, tt := range tests {
		if got := fileThere(tt.path); got != tt.want {
			t.Errorf("%s: fileThere(%q) = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
	if _, err := ReadFile(filepath.Join(file, "config.yaml")); err == nil {
		t.Fatal("ReadFile through a file: no error, want the read's error")
	}
}
