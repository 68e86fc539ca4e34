package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/robaws-edge/robaws-edge/configs"
)

// `robaws-edge config init|check`: write the commented template, or
// validate a file as `run` would.

var configSubcommands = group{
	{"init", configInit},
	{"check", configCheck},
}

// configPathFlag adds config's --config, which names the file to write or
// check (default: the default path).
func configPathFlag(fs *flag.FlagSet) *string {
	return fs.String("config", configs.DefaultConfigPath(), "config file")
}

// configInit is `config init [--token]`: write the template, never over an
// existing file; --token fills admin.token with a new random token.
func configInit(_ context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configPathFlag(fs)
	withToken := fs.Bool("token", false, "set admin.token to a new random token (26 characters) in the file")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	template := configs.Example()
	if *withToken {
		// rand.Text: 26 base32 characters, 130 random bits. It goes into
		// the file only, never to the terminal.
		with := strings.Replace(template, "\n  token: \"\"\n", "\n  token: \""+rand.Text()+"\"\n", 1)
		if with == template {
			return errors.New("config init --token: the template has no empty admin.token to fill")
		}
		template = with
	}
	if err := writeNew(*configPath, template); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "wrote", *configPath)
	if *withToken {
		fmt.Fprintln(env.stdout, "admin.token is a new random token, in that file only: the console asks for it, the CLI reads it from the file")
	}
	return nil
}

// writeNew writes text to a new file at path (0600), making its directory;
// it refuses to overwrite a file.
func writeNew(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it", path)
	} else if err != nil {
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// configCheck is `config check`: everything `run` would refuse, named.
// Without --config it checks what `run` would use: the default file, or
// the built-in defaults when there is none.
func configCheck(_ context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	_, path, err := configs.Load(*configPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ConfigError(fmt.Errorf("%w (robaws-edge config init --config %s writes the commented template there)", err, *configPath))
	case err != nil:
		return ConfigError(err)
	case path == "":
		fmt.Fprintf(env.stdout, "no config file at %s: run uses the built-in defaults, which are ok (robaws-edge config init writes them there, commented, to edit)\n", configs.DefaultConfigPath())
		return nil
	}
	fmt.Fprintln(env.stdout, path+": ok")
	return nil
}
