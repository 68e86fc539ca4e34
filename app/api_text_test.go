package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestLogEntryInvalidUTF8 stores two unauthenticated bodies with invalid
// UTF-8 (anyone can send one: rejected bodies are kept) and reads them back:
// the answer stays valid JSON and carries the bytes as payload_base64.
func TestLogEntryInvalidUTF8(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	for _, body := range [][]byte{
		[]byte("\xff\xfe binary \x00\x80"),
		[]byte(`{"id":"e-utf8","event":"client.updated","data":{"id":"1","name":"bad ` + "\xc3\x28" + `"}}`),
	} {
		resp, err := http.Post(pub+customersPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		a := decodeAnswer(t, resp)
		if a.Code != 401 {
			t.Fatalf("post: got %d, want 401", a.Code)
		}
		evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Limit: 1})
		if err != nil || len(evs) != 1 {
			t.Fatalf("latest entry: %v %v", evs, err)
		}
		resp, err = http.Get(fmt.Sprintf("%s/api/webhook-logs/%d", local, evs[0].ID))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(raw) || !utf8.Valid(raw) {
			t.Fatalf("got %d, valid JSON %v, valid UTF-8 %v: %q", resp.StatusCode, json.Valid(raw), utf8.Valid(raw), raw)
		}
		e := decode[app.LogEntryDetail](t, raw)
		if !bytes.Equal(e.PayloadBase64, body) || e.Payload != nil || e.PayloadText != nil {
			t.Fatalf("payload_base64 = %q (payload %q, text %v), want the body", e.PayloadBase64, e.Payload, e.PayloadText)
		}
	}
}

// TestCustomerRawInvalidUTF8: a signed client whose data has invalid UTF-8
// in a key and in values is applied; the customer (raw included), its
// history and /api/changes are valid JSON and UTF-8, with U+FFFD where the
// bytes were, while the log entry keeps the payload verbatim
// (payload_base64). The client the CLI uses (`customers show --json`)
// gets and re-encodes valid JSON too.
func TestCustomerRawInvalidUTF8(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	body := []byte("{\"id\":\"e-raw-utf8\",\"event\":\"client.created\",\"data\":{\"id\":\"U-1\",\"na\xffme\":1,\"name\":\"Caf\xc3 \xff\xfeBar\",\"city\":\"Gent\"}}")
	a := postSigned(t, http.DefaultClient, pub, body)
	if a.Code != 200 || a.Status != store.StatusProcessed {
		t.Fatalf("delivery: got %+v, want 200 processed", a)
	}
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(local + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("GET %s: %d, valid UTF-8 %v, valid JSON %v: %q", path, resp.StatusCode, utf8.Valid(data), json.Valid(data), data)
		}
		return data
	}
	cust := decode[store.Customer](t, get("/api/customers/U-1"))
	var raw map[string]any
	if err := json.Unmarshal(cust.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	const bad = "\uFFFD"
	if _, ok := raw["na"+bad+"me"]; !ok || raw["name"] != "Caf"+bad+" "+bad+bad+"Bar" || raw["city"] != "Gent" {
		t.Fatalf("raw = %q, want the data with U+FFFD for each invalid byte", cust.Raw)
	}
	if cust.Name != raw["name"] {
		t.Fatalf("name = %q, want %q as in raw (a JSON decoder reads each invalid byte as U+FFFD)", cust.Name, raw["name"])
	}
	for _, path := range []string{"/api/customers/U-1/history", "/api/changes"} {
		p := decode[app.Page[*store.HistoryEntry]](t, get(path))
		if len(p.Items) != 1 || p.Items[0].Changes["name"].To != cust.Name {
			t.Fatalf("GET %s: %+v, want one entry whose name change is %q", path, p.Items, cust.Name)
		}
	}
	e := decode[app.LogEntryDetail](t, get(fmt.Sprintf("/api/webhook-logs/%d", a.LogID)))
	if !bytes.Equal(e.PayloadBase64, body) {
		t.Fatalf("payload_base64 = %q, want the body as received", e.PayloadBase64)
	}

	client := app.NewClient(strings.TrimPrefix(local, "http://"), "")
	got, err := client.Customer(context.Background(), "U-1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := json.MarshalIndent(got, "", "  "); err != nil || !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("the customer as `customers show --json` prints it: %v, %q", err, out)
	}
}

// TestLongMultibyteIDs: a verified delivery whose data.id, or id, is over
// 512 bytes of 3-byte characters is failed (SPEC §1.5), and its log entry
// shows the id clipped before a character that would not fit, never a
// partial character: data.id to 510 bytes; the event id, which is also the
// de-duplication key, to 495 bytes and "~" and 16 hex digits of its hash.
// Two long event ids that share their first 512 bytes are two deliveries;
// a repeat of one is a duplicate.
func TestLongMultibyteIDs(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	local := serve(t, app.NewLocal(db, r, app.LocalConfig{}))
	euros := strings.Repeat("€", 200)
	clipped := strings.Repeat("€", 170)
	for _, tt := range []struct {
		name, eventID, clientID   string
		wantEventID, wantClientID string
		wantErr                   string
	}{
		{"data.id", "e-euros", euros, "e-euros", clipped, "data.id longer than 512 bytes"},
		{"id", euros, "C-1", strings.Repeat("€", 165) + "~", "", "id or event longer than 512 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := delivery(tt.eventID, "client.updated", tt.clientID, "Long", "")
			a := postSigned(t, http.DefaultClient, pub, body)
			if a.Code != 200 || a.Status != store.StatusFailed || a.Error != tt.wantErr {
				t.Fatalf("delivery: got %+v, want 200 failed %q", a, tt.wantErr)
			}
			resp, err := http.Get(fmt.Sprintf("%s/api/webhook-logs/%d", local, a.LogID))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			e := decode[app.LogEntryDetail](t, data)
			if got := e.EventID; tt.name == "id" && strings.HasPrefix(got, tt.wantEventID) && len(got) == len(tt.wantEventID)+16 {
				tt.wantEventID = got // the hash
			}
			if e.EventID != tt.wantEventID || e.ClientID != tt.wantClientID {
				t.Fatalf("logged event_id %q (%d bytes), client_id %q (%d bytes); want %q and %q",
					e.EventID, len(e.EventID), e.ClientID, len(e.ClientID), tt.wantEventID, tt.wantClientID)
			}
		})
	}
	t.Run("two long ids", func(t *testing.T) {
		first := postSigned(t, http.DefaultClient, pub, delivery(euros+"-1", "client.updated", "C-1", "Long", ""))
		second := postSigned(t, http.DefaultClient, pub, delivery(euros+"-2", "client.updated", "C-1", "Long", ""))
		again := postSigned(t, http.DefaultClient, pub, delivery(euros+"-1", "client.updated", "C-1", "Long", ""))
		if first.Status != store.StatusFailed || second.Status != store.StatusFailed || second.LogID == first.LogID {
			t.Fatalf("two long ids: %+v and %+v, want two failed entries", first, second)
		}
		if again.Status != store.StatusDuplicate || again.LogID != first.LogID {
			t.Fatalf("the first again: %+v, want a duplicate of %d", again, first.LogID)
		}
	})
}
