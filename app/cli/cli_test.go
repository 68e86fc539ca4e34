package cli

import (
	"errors"
	"strings"
	"testing"
)

// TestVersion: `version` and `--version` print Options.Version (SPEC §6).
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out, errOut strings.Builder
		if err := Main(t.Context(), []string{arg}, nil, &out, &errOut, Options{Version: "1.2.3"}); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if got, want := out.String(), "robaws-edge 1.2.3\n"; got != want {
			t.Errorf("%s printed %q, want %q", arg, got, want)
		}
	}
}

// TestUsage: no command and an unknown one are usage errors; help is not.
func TestUsage(t *testing.T) {
	var out, errOut strings.Builder
	if err := Main(t.Context(), nil, nil, &out, &errOut, Options{}); !errors.Is(err, ErrUsage) {
		t.Errorf("no command: %v, want ErrUsage", err)
	}
	if err := Main(t.Context(), []string{"nope"}, nil, &out, &errOut, Options{}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown command: %v, want ErrUsage naming it", err)
	}
	if err := Main(t.Context(), []string{"help"}, nil, &out, &errOut, Options{}); err != nil {
		t.Errorf("help: %v, want nil", err)
	}
	if !strings.Contains(errOut.String(), "robaws-edge send-test") {
		t.Errorf("usage lacks send-test:\n%s", errOut.String())
	}
}
