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
		{name: "bad duration", yaml: "receiver:\n  signature_tolerance: soon\n", wantErr: "receiver.signature_tolerance: cannot unmarshal"},
		{name: "bad number", yaml: "receiver:\n  max_body_bytes: lots\n", wantErr: "receiver.max_body_bytes: cannot unmarshal"},
		{name: "bad level", yaml: "log:\n  level: loud\n", wantErr: "log.level"},
		{name: "bad format", yaml: "log:\n  format: xml\n", wantErr: "log.format"},
		{name: "bad listen", yaml: "receiver:\n  listen: nope\n", wantErr: "receiver.listen"},
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
