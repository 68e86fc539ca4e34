package cli

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
)

// `robaws-edge version` and the version every part of the daemon reports.

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	// Arguments after the flags are ignored, as they always were.
	if _, err := parseFlags(newFlags(env, "version"), args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "robaws-edge", env.opts.Version)
	return nil
}

// Version is the version this build says it is (versionFrom), given the
// release's linker flag (main's -X main.version=…, "" when unset).
func Version(ldflag string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionFrom(ldflag, bi)
}

// versionFrom is the version a build says it is: the linker flag of a
// release; else the module version Go stamps from git into a plain
// `go build` in a checkout (v0.0.0-<date>-<hash>[+dirty]); else, when
// nothing is stamped (go run, tests, -buildvcs=false), "(devel)" with the
// VCS revision from the build settings when there is one — never a bare
// "dev" that says nothing about the code.
func versionFrom(ldflag string, bi *debug.BuildInfo) string {
	if ldflag != "" {
		return ldflag
	}
	if bi == nil {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "(devel) " + cmp.Or(settings["vcs"], "vcs") + " " + rev
	if settings["vcs.modified"] == "true" {
		v += "+dirty"
	}
	return v
}
