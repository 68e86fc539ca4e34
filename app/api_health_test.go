package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/app"
)

// TestHealthTunnel checks the tunnel part of /api/health and the status.
func TestHealthTunnel(t *testing.T) {
	for _, tc := range []struct {
		tunnel    app.TunnelStatus
		wantCodes []string // besides no_active_secret of the fixture's "nosecret" endpoint
		wantURL   string
	}{
		{app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOnline, PublicURL: "https://edge.ngrok.app"}, nil, "https://edge.ngrok.app"},
		{app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOffline, Error: "dial tcp: connection refused"}, []string{app.ProblemTunnelOffline}, ""},
		{app.TunnelStatus{Provider: "none", Status: app.TunnelDisabled}, nil, ""},
	} {
		t.Run(tc.tunnel.Status, func(t *testing.T) {
			fx := newFixture(t, app.LocalConfig{Tunnel: func() app.TunnelStatus { return tc.tunnel }, ReceiverListen: "127.0.0.1:8080", Started: time.Now().Add(-90 * time.Second)})
			code, data := do(t, fx.local, "GET", "/api/health", "", nil)
			h := decode[app.Health](t, data)
			gotURL := ""
			if h.Tunnel.PublicURL != nil {
				gotURL = *h.Tunnel.PublicURL
			}
			codes := []string{}
			for _, p := range h.Problems {
				if p.Code != app.ProblemNoActiveSecret {
					codes = append(codes, p.Code)
				}
			}
			if diff := cmp.Diff(append([]string{}, tc.wantCodes...), codes); diff != "" || h.Status != "degraded" {
				t.Errorf("status %s, problems (-want +got):\n%s", h.Status, diff)
			}
			if code != 200 || h.Tunnel.Provider != tc.tunnel.Provider || h.Tunnel.Status != tc.tunnel.Status || gotURL != tc.wantURL ||
				*h.Receiver.Listen != "127.0.0.1:8080" || h.UptimeSeconds < 90 {
				t.Errorf("health = %d %s", code, data)
			}
			if !bytes.Contains(data, []byte(`"public_url":`)) {
				t.Errorf("public_url missing: %s", data)
			}
		})
	}
}

// TestMetrics parses the exposition of /metrics.
func TestMetrics(t *testing.T) {
	online := app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOnline, PublicURL: "https://e.example"}
	fx := newFixture(t, app.LocalConfig{Tunnel: func() app.TunnelStatus { return online }})
	fx.seed(t)
	code, data := do(t, fx.local, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("/metrics = %d %s", code, data)
	}
	got := parseMetrics(t, string(data))
	want := map[string]float64{
		`robaws_edge_deliveries_total{endpoint="customers",status="processed"}`: 3,
		`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`:    2,
		`robaws_edge_deliveries_total{endpoint="customers",status="ignored"}`:   1,
		`robaws_edge_deliveries_total{endpoint="customers",status="rejected"}`:  1,
		`robaws_edge_processing_seconds_count{endpoint="customers"}`:            6,
		`robaws_edge_customers`:              2,
		`robaws_edge_tunnel_up`:              1,
		`robaws_edge_rejected_dropped_total`: 0,
		// The fixture's "nosecret" endpoint has no secret.
		`robaws_edge_health_problems{code="no_active_secret"}`: 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[`robaws_edge_processing_seconds_bucket{endpoint="customers",le="+Inf"}`]; !ok {
		t.Errorf("latency histogram buckets missing")
	}
	// Replays are not deliveries.
	replayLog(t, fx, fx.ids["failed"])
	_, data = do(t, fx.local, "GET", "/metrics", "", nil)
	if got := parseMetrics(t, string(data)); got[`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`] != 2 {
		t.Errorf("failed deliveries after a replay = %v, want 2", got[`robaws_edge_deliveries_total{endpoint="customers",status="failed"}`])
	}
	if code, data := do(t, fx.local, "GET", "/metrics?x=1", "", nil); code != 400 {
		t.Errorf("/metrics?x=1 = %d %s, want 400", code, data)
	}
}

// parseMetrics reads Prometheus text format: "# HELP/TYPE" lines must name
// a known type, every sample line is "name{labels} value".
func parseMetrics(tb testing.TB, text string) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				tb.Fatalf("bad type line %q", line)
			}
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			tb.Fatalf("bad sample line %q", line)
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			tb.Fatalf("bad value in %q: %v", line, err)
		}
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, "_bucket"), "_sum"), "_count")
		if types[base] == "" && types[family] == "" {
			tb.Fatalf("sample %q has no TYPE line", line)
		}
		out[name] = v
	}
	return out
}
