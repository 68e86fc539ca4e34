package cli

import (
	"runtime/debug"
	"testing"
)

// TestVersionFrom: a release says its linker flag, a plain go build in a
// git checkout the module version Go stamps, and a build with nothing
// stamped "(devel)" with the revision when the build settings have one —
// never a bare "dev".
func TestVersionFrom(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261205224123-b4f263d61f39+dirty"}}
	for _, tt := range []struct {
		name, ldflag string
		bi           *debug.BuildInfo
		want         string
	}{
		{"release", "v1.2.3", stamped, "v1.2.3"},
		{"go build in a checkout", "", stamped, "v0.0.0-20261205224123-b4f263d61f39+dirty"},
		{"nothing stamped", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"revision only", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs", "git", "vcs.revision", "b4f263d61f39ee74aabcfba621b70d5d050ae562", "vcs.modified", "true")}, "(devel) git b4f263d61f39+dirty"},
		{"no build info", "", nil, "(devel)"},
	} {
		if got := versionFrom(tt.ldflag, tt.bi); got != tt.want {
			t.Errorf("%s: versionFrom = %q, want %q", tt.name, got, tt.want)
		}
	}
}
