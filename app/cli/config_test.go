package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
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
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("check of a bad file: %v, want an error (exit 2) naming log.level", err)
	}
	// The file's content is not the command line's fault: no usage line.
	if strings.Contains(err.Error(), "usage: robaws-edge") {
		t.Fatalf("check of a bad file printed the usage line: %q", err)
	}
	if err := Main(t.Context(), []string{"config", "check", "--nope"}, nil, &out, &errOut, Options{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad flag: %v, want an error naming it", err)
	}
	// A file that is not there: the error says how to make it.
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	err = Main(t.Context(), []string{"config", "check", "--config", missing}, nil, &out, &errOut, Options{})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "config init --config "+missing) {
		t.Fatalf("check of a missing file: %v, want an error (exit 2) naming config init", err)
	}
}

// TestShortAdminToken: `config check` and `run` refuse an admin.token of
// fewer than 16 characters, naming the key and never the value; `run`
// then starts nothing.
func TestShortAdminToken(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("admin:\n  listen: 0.0.0.0:8787\n  token: \"tok-s3cret\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"config", "check", "--config", path}, {"run", "--config", path}} {
		var out, errOut strings.Builder
		err := mainOrRun(t, cmd, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "admin.token: too short: use at least 16 characters") || !errors.Is(err, errUsage) {
			t.Fatalf("%s: %v, want a usage error naming admin.token (and, for run, no daemon started)", cmd[0], err)
		}
		if strings.Contains(err.Error()+out.String()+errOut.String(), "s3cret") {
			t.Fatalf("%s shows the token: %v", cmd[0], err)
		}
	}
}

// mainOrRun runs args as main does: `run` through RunConfig (an error
// there means main starts no daemon), every other command through Main.
func mainOrRun(t *testing.T, args []string, stdout, stderr io.Writer) error {
	if args[0] == "run" {
		_, _, err := RunConfig(args[1:], stdout)
		return err
	}
	return Main(t.Context(), args, nil, stdout, stderr, Options{})
}

// TestConfigInitToken: `config init --token` writes the template with a
// random admin.token of 26 characters, a new one each time, that `config
// check` accepts; the token is in the file only, not on the terminal.
func TestConfigInitToken(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	dir := t.TempDir()
	tokenRe := regexp.MustCompile(`\n  token: "([A-Z2-7]{26})"\n`)
	var tokens []string
	for _, name := range []string{"a.yaml", "b.yaml"} {
		path := filepath.Join(dir, name)
		var out, errOut strings.Builder
		if err := Main(t.Context(), []string{"config", "init", "--token", "--config", path}, nil, &out, &errOut, Options{}); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		m := tokenRe.FindStringSubmatch(string(data))
		if m == nil {
			t.Fatalf("%s has no 26-character admin.token", name)
		}
		if strings.Contains(out.String()+errOut.String(), m[1]) {
			t.Fatal("config init printed the token")
		}
		if got := strings.Replace(string(data), m[0], "\n  token: \"\"\n", 1); got != configs.Example() {
			t.Fatal("config init --token changed more than admin.token")
		}
		cfg, err := configs.ReadFile(path)
		if err != nil || cfg.Admin.Token != m[1] {
			t.Fatalf("check of the file: %v (token read %v)", err, cfg.Admin.Token == m[1])
		}
		tokens = append(tokens, m[1])
	}
	if tokens[0] == tokens[1] {
		t.Fatal("two inits wrote the same token")
	}
}

// TestConfigErrorOnce: a problem in the file's content is printed once,
// naming the key and the unset variable, with exit 2 and without the
// command's usage line, for every kind of command that reads the file.
func TestConfigErrorOnce(t *testing.T) {
	dir := t.TempDir()
	unsetToken := filepath.Join(dir, "unset.yaml")
	if err := os.WriteFile(unsetToken, []byte("admin: {token: \"${ROBAWS_EDGE_TEST_UNSET_TOKEN}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKey := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badKey, []byte("admin: {listen: \"127.0.0.1:1\"}\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--config", unsetToken}, "admin.token: ${ROBAWS_EDGE_TEST_UNSET_TOKEN} is not set"},
		{[]string{"logs", "--config", unsetToken}, "${ROBAWS_EDGE_TEST_UNSET_TOKEN} is not set"},
		{[]string{"config", "check", "--config", unsetToken}, "admin.token: expanded to nothing (${ROBAWS_EDGE_TEST_UNSET_TOKEN} is not set)"},
		{[]string{"run", "--config", badKey}, `unknown key "bogus"`},
		{[]string{"check", "--config", badKey}, `unknown key "bogus"`},
		{[]string{"send-test", "--config", badKey}, `unknown key "bogus"`},
	} {
		var out, errOut strings.Builder
		err := mainOrRun(t, tc.args, &out, &errOut)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want exit 2 naming %q", tc.args, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "usage: robaws-edge") || strings.Count(err.Error(), tc.want) != 1 {
			t.Errorf("%v: %q, want the problem once and no usage line", tc.args, err)
		}
	}
}
