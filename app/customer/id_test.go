package customer

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestID(t *testing.T) {
	tests := []struct {
		data string
		want string
	}{
		{`{"id":"3473"}`, "3473"},
		{`{"id":" 3473 "}`, "3473"},
		{`{"id":218}`, "218"},
		{`{"id":-7}`, "-7"},
		{`{"id":218.50}`, "218.5"},
		{`{"id":1E3}`, "1000"},
		{`{"id":5e-3}`, "0.005"},
		{`{"id":1e+2}`, "100"},
		{`{"id":-0.0}`, "0"},
		{`{"id":null}`, ""},
		{`{"id":true}`, ""},
		{`{"id":[1]}`, ""},
		{`{"name":"x"}`, ""},
		{`[]`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			if got := ID([]byte(tt.data)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzMap checks that Map never panics, that it fails
// exactly when ID finds no id and otherwise returns that id, and that
// string and number ids round-trip.
func FuzzMap(f *testing.F) {
	for _, name := range []string{"client-created.json", "client-updated.json", "client-updated-uuid-extrafields.json"} {
		f.Add(envelopeData(f, name), "3473", int64(218))
	}
	for i := range 3 {
		f.Add(pageItem(f, "clients-page-0.json", i), " 42 ", int64(-1))
	}
	for _, name := range []string{"alternate-fields.json", "role-order.json"} {
		f.Add(readFixture(f, filepath.Join("testdata", name)), "", int64(0))
	}
	f.Add([]byte(`{"id":1e400,"extraFields":{"role":{"value":7}},"tel":"00"}`), "é", int64(1<<62))
	f.Add([]byte(`[]`), "\x00", int64(7))

	f.Fuzz(func(t *testing.T, data []byte, id string, n int64) {
		c, err := Map(data, Mapping{})
		want := ID(data)
		switch {
		case err != nil && want != "":
			t.Errorf("Map: got error %v, want id %q", err, want)
		case err == nil && c.ID != want:
			t.Errorf("Map: got id %q, want ID %q", c.ID, want)
		case err == nil && c.ID == "":
			t.Errorf("Map: got empty id, want error")
		}

		// A string id round-trips, trimmed (after JSON's own UTF-8 repair).
		quoted, _ := json.Marshal(id)
		var decoded string
		if err := json.Unmarshal(quoted, &decoded); err != nil {
			t.Fatal(err)
		}
		checkID(t, `{"id":`+string(quoted)+`}`, strings.TrimSpace(decoded))

		// A number id comes back as its decimal text.
		checkID(t, `{"id":`+strconv.FormatInt(n, 10)+`}`, strconv.FormatInt(n, 10))
	})
}

func checkID(t *testing.T, data, want string) {
	t.Helper()
	c, err := Map([]byte(data), Mapping{})
	switch {
	case want == "":
		if !errors.Is(err, ErrMissingID) {
			t.Errorf("Map(%s): got error %v, want ErrMissingID", data, err)
		}
	case err != nil:
		t.Errorf("Map(%s): got error %v, want id %q", data, err, want)
	case c.ID != want:
		t.Errorf("Map(%s): got id %q, want %q", data, c.ID, want)
	}
}
