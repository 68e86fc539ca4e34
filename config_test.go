package main

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
	cfg, err := ReadConfigFile("configs/robaws-edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	t.Setenv("NGROK_AUTHTOKEN", "")
	if diff := cmp.Diff(def, cfg, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b *bool) bool { return (a == nil || *a) == (b == nil || *b) })); diff != "" {
		t.Fatalf("example config differs from DefaultConfig (-default +example):\n%s", diff)
	}
	if string(exampleConfig) == "" {
		t.Fatal("embedded example config is empty")
	}
}

func TestParseConfig(t *testing.T) {
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
			if ep.Path != "/api/webhooks/robaws/customers" || len(ep.Events) != 2 || !ep.autoRegister() {
				t.Fatalf("customers defaults lost: %+v", ep)
			}
		}},
		{name: "durations", yaml: "receiver:\n  signature_tolerance: 90s\nrobaws: {base_url: \"https://x.example\", sync_interval: 0}\n", check: func(t *testing.T, c Config) {
			if c.Receiver.SignatureTolerance != 90*time.Second || c.Robaws.SyncInterval != 0 {
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
		{name: "bad duration", yaml: "receiver:\n  signature_tolerance: soon\n", wantErr: "receiver.signature_tolerance: cannot unmarshal a string: must be a duration such as 30s, 5m or 24h (line 2)"},
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
		{name: "connections not a number", yaml: "receiver:\n  max_connections: many\n", wantErr: "receiver.max_connections: cannot unmarshal a string: must be a whole number"},
		{name: "bad level", yaml: "log:\n  level: loud\n", wantErr: "log.level"},
		{name: "bad format", yaml: "log:\n  format: xml\n", wantErr: "log.format"},
		// A value typed literally is shown (it is not a secret); one from a
		// ${VAR} is not (TestConfigErrorsHideSecrets).
		{name: "bad listen", yaml: "receiver:\n  listen: nope\n", wantErr: `receiver.listen: must be host:port, such as 127.0.0.1:8080 (got "nope")`},
		{name: "zero body", yaml: "receiver:\n  max_body_bytes: 0\n", wantErr: "receiver.max_body_bytes"},
		{name: "public admin without token", yaml: "admin:\n  listen: 0.0.0.0:8787\n", wantErr: "admin.token"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.yaml))
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

func TestConfigInitAndCheck(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	path := filepath.Join(t.TempDir(), "sub", "config.yaml")
	var out, errOut strings.Builder
	if err := Main(t.Context(), []string{"config", "init", "--config", path}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := Main(t.Context(), []string{"config", "check", "--config", path}, &out, &errOut); err != nil {
		t.Fatalf("check of the template: %v", err)
	}
	if err := Main(t.Context(), []string{"config", "init", "--config", path}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v, want a refusal", err)
	}
	if err := os.WriteFile(path, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Main(t.Context(), []string{"config", "check", "--config", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), errUsage.Error()) {
		t.Fatalf("check of a bad file: %v, want a usage error naming log.level", err)
	}
	if err := Main(t.Context(), []string{"config", "check", "--nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad flag: %v, want an error naming it", err)
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
		{"token expanded into a map key", "admin:\n  token:\n    ${A_TOKEN}: x\n",
			"admin.token: cannot unmarshal a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q shows a secret or expanded value", err)
			}
		})
	}
}
