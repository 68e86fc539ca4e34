package cli

import "testing"

// TestShellWord: the more: line of `customers show` can be pasted into a
// shell whatever the customer id.
func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"218": "218", "TEST-1": "TEST-1", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "$(rm)": "'$(rm)'",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}
