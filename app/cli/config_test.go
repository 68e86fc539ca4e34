package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robaws-edge/robaws-edge/configs"
)

// TestConfigInitAndCheck: `config init` writes the embedded example, which
// `config check` accepts; init refuses to overwrite; a bad file is a usage
// error naming the key.
func TestConfigInitAndCheck(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	path := filepath.Join(t.TempDir(), "sub", "config.yaml")
	var out, errOut strings.Builder
	if err := Main(t.Context(), []string{"config", "init", "--config", path}, nil, &out, &errOut, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Main(t.Context(), []string{"config", "check", "--config", path}, nil, &out, &errOut, Options{}); err != nil {
		t.Fatalf("check of the template: %v", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != configs.Example() {
		t.Fatalf("init wrote %d bytes (%v), want configs.Example()", len(data), err)
	}
	if err := Main(t.Context(), []string{"config", "init", "--config", path}, nil, &out, &errOut, Options{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v, want a refusal", err)
	}
	if err := os.WriteFile(path, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Main(t.Context(), []string{"config", "check", "--config", path}, nil, &out, &errOut, Options{})
	if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), ErrUsage.Error()) {
		t.Fatalf("check of a bad file: %v, want a usage error naming log.level", err)
	}
	if err := Main(t.Context(), []string{"config", "check", "--nope"}, nil, &out, &errOut, Options{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad flag: %v, want an error naming it", err)
	}
}
