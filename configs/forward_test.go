package configs

import (
	"strings"
	"testing"
	"time"
)

// goodSecret is a Standard Webhooks secret of 32 bytes.
const goodSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestForwardConfig: every refusal of SPEC §8 names its key and never
// shows a secret, token, credential, header value, userinfo or query
// string; a good destination gets its defaults.
func TestForwardConfig(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	t.Setenv("FWD_SECRET", goodSecret)
	t.Setenv("FWD_KEY", "header-value-not-shown")
	secrets := []string{goodSecret, "header-value-not-shown", "tok-not-shown-123", "hunter2pass", "qsecret=zz", "whsec_c2hvcnQ="}
	tests := []struct{ name, yaml, wantKey, wantText string }{
		{"unknown kind", `{office: {kind: kafka, url: "http://127.0.0.1:9000"}}`, "forward.office.kind", "must be http or nats"},
		{"bad name", `{Office_App: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}"}}`, "forward.Office_App", "a-z, 0-9 and -"},
		{"long name", `{` + strings.Repeat("a", 41) + `: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}"}}`, "forward." + strings.Repeat("a", 41), "at most 40"},
		{"unknown stream", `{office: {kind: http, url: "http://127.0.0.1:9000", stream: logs, secret: "${FWD_SECRET}"}}`, "forward.office.stream", "events or changes"},
		{"ftp url", `{office: {kind: http, url: "ftp://hunter2pass@example.com/?qsecret=zz", secret: "${FWD_SECRET}"}}`, "forward.office.url", "http(s) URL"},
		{"http to nats url", `{office: {kind: http, url: "nats://127.0.0.1:4222", secret: "${FWD_SECRET}"}}`, "forward.office.url", "http(s) URL"},
		{"nats to http url", `{office: {kind: nats, url: "http://u:hunter2pass@127.0.0.1:4222?qsecret=zz"}}`, "forward.office.url", "nats://host:4222"},
		{"no secret", `{office: {kind: http, url: "http://127.0.0.1:9000"}}`, "forward.office.secret", "required"},
		{"not whsec", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "hunter2pass-hunter2pass-hunter2pass"}}`, "forward.office.secret", "whsec_"},
		{"short secret", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "whsec_c2hvcnQ="}}`, "forward.office.secret", "at least 24 bytes (it has 5)"},
		{"placeholder subject", `{central: {kind: nats, url: "nats://127.0.0.1:4222", subject: "{endpoint}.{event}"}}`, "forward.central.subject", "literal token"},
		{"bad subject", `{central: {kind: nats, url: "nats://127.0.0.1:4222", subject: "robaws.*"}}`, "forward.central.subject", "not a subject"},
		{"own admin", `{office: {kind: http, url: "http://localhost:8787/x", secret: "${FWD_SECRET}"}}`, "forward.office.url", "own admin.listen"},
		{"own receiver", `{office: {kind: http, url: "http://127.0.0.1:8080/api/webhooks/robaws/customers", secret: "${FWD_SECRET}"}}`, "forward.office.url", "own receiver.listen"},
		{"own receiver by nats", `{central: {kind: nats, url: "nats://127.0.0.1:4222,nats://[::1]:8080"}}`, "forward.central.url", "own receiver.listen"},
		{"events on changes", `{office: {kind: http, url: "http://127.0.0.1:9000", stream: changes, events: [client.updated], secret: "${FWD_SECRET}"}}`, "forward.office.events", "only filters the events stream"},
		{"start", `{office: {kind: http, url: "http://127.0.0.1:9000", start: yesterday, secret: "${FWD_SECRET}"}}`, "forward.office.start", "now or beginning"},
		{"reserved header", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}", headers: {Webhook-Signature: "${FWD_KEY}"}}}`, "forward.office.headers.Webhook-Signature", "cannot be replaced"},
		{"token on http", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}", token: tok-not-shown-123}}`, "forward.office.credentials", "for kind nats"},
		{"secret on nats", `{central: {kind: nats, url: "nats://127.0.0.1:4222", secret: "${FWD_SECRET}"}}`, "forward.central.secret", "for kind http"},
		{"missing creds", `{central: {kind: nats, url: "nats://127.0.0.1:4222", credentials: /nonexistent/x.creds}}`, "forward.central.credentials", "cannot read"},
		{"zero alert", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}", alert_after: -1m}}`, "forward.office.alert_after", "positive"},
		{"unknown key", `{office: {kind: http, url: "http://127.0.0.1:9000", secret: "${FWD_SECRET}", retries: 3}}`, "", `unknown key "retries" in a forward destination`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("forward: " + tt.yaml + "\n"))
			if err == nil {
				t.Fatal("accepted, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantKey) || !strings.Contains(msg, tt.wantText) {
				t.Fatalf("error = %q, want it to start with %q and say %q", msg, tt.wantKey, tt.wantText)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q shows a secret (%q)", msg, s)
				}
			}
		})
	}

	cfg, err := Parse([]byte(`forward:
  office-app: {kind: http, url: "http://127.0.0.1:9000/robaws?key=qsecret", secret: "${FWD_SECRET}", headers: {X-Api-Key: "${FWD_KEY}"}}
  central: {kind: nats, url: "nats://127.0.0.1:4222", stream: changes, token: tok-not-shown-123}
`))
	if err != nil {
		t.Fatal(err)
	}
	office, central := cfg.Forward["office-app"], cfg.Forward["central"]
	if office.Stream != "events" || office.Timeout != Duration(10*time.Second) || office.Start != "now" || office.AlertAfter != Duration(15*time.Minute) || office.Headers["X-Api-Key"] != "header-value-not-shown" {
		t.Fatalf("office-app defaults: %+v", office)
	}
	if central.Subject != "robaws.{endpoint}.{event}" || central.NATSStream != "ROBAWS" || central.Stream != "changes" {
		t.Fatalf("central defaults: %+v", central)
	}
	if names := cfg.ForwardNames(); len(names) != 2 || names[0] != "central" {
		t.Fatalf("names = %v", names)
	}
}
