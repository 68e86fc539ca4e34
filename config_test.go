package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
