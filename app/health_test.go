package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// fakeRobawsAPI answers the clients list with no clients, or with status
// (when not 200), announcing remaining requests of a 10,000-a-day budget.
func fakeRobawsAPI(t *testing.T, status, remaining int) *robaws.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Daily-Limit", "10000")
		w.Header().Set("X-RateLimit-Daily-Remaining", strconv.Itoa(remaining))
		w.Header().Set("X-RateLimit-Daily-Reset", "7200")
		if status != 200 {
			http.Error(w, `{"message":"internal trouble"}`, status)
			return
		}
		w.Write([]byte(`{"items":[],"totalItems":0}`))
	}))
	t.Cleanup(srv.Close)
	c, err := robaws.New(robaws.Config{BaseURL: srv.URL, APIKey: "health-test-key", RequestsPerSecond: 1000, ReadReplica: true, DailyReserve: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deliverWith posts n signed deliveries at at (secret "" sends none).
func deliverWith(t *testing.T, r *intake.Receiver, secret string, n int, at time.Time) {
	t.Helper()
	r.Now = func() time.Time { return at }
	pub := app.NewPublic(r, app.PublicConfig{})
	for i := range n {
		body := clientBody(fmt.Sprintf("ev-%s-%d-%d", secret, at.Unix(), i), "client.created", map[string]any{"id": fmt.Sprint(i), "name": "A"})
		sig := ""
		if secret != "" {
			sig = intake.Sign(secret, at.Unix(), body)
		}
		post(t, pub, "POST", customersPath, body, sig)
	}
}

// TestHealthProblems makes each SPEC §4.1 problem real and reads it back
// from /api/health.
func TestHealthProblems(t *testing.T) {
	started := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	withSecret := []intake.Endpoint{{Name: "customers", Path: customersPath, Events: []string{"client.created", "client.updated"}, Secrets: []string{testSecret}, AutoRegister: true}}
	noSecret := []intake.Endpoint{{Name: "customers", Path: customersPath, Events: []string{"client.created"}, AutoRegister: true}}
	online := func() app.TunnelStatus {
		return app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOnline, PublicURL: "https://office.ngrok.app"}
	}
	type env struct {
		db   *store.DB
		recv *intake.Receiver
		cfg  *app.LocalConfig
	}
	tests := []struct {
		name      string
		endpoints []intake.Endpoint
		setup     func(t *testing.T, e env)
		wantCode  string // "" = no problem at all
		wantInMsg string
	}{
		{"healthy", withSecret, nil, "", ""},
		{"endpoint without secret", noSecret, nil, app.ProblemNoActiveSecret, "endpoint customers has no secret"},
		{"endpoint without secret, registrar, online", noSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 200, 9000)
			e.cfg.Registrar = robaws.NewRegistrar(e.db, c, robaws.RegistrarConfig{})
			e.cfg.Tunnel = online
		}, app.ProblemNotRegistered, "robaws-edge retries on its own"},
		{"endpoint without secret, registrar, no public URL", noSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 200, 9000)
			e.cfg.Registrar = robaws.NewRegistrar(e.db, c, robaws.RegistrarConfig{})
		}, app.ProblemNoActiveSecret, "has no public URL (no tunnel is configured): set NGROK_AUTHTOKEN"},
		{"wrong secret", withSecret, func(t *testing.T, e env) {
			deliverWith(t, e.recv, "another-secret-value", 5, started.Add(time.Hour))
		}, app.ProblemRejected, "endpoint customers rejected all 5 signed deliveries of the last 15m0s (signature mismatch)"},
		{"wrong secret, twice only", withSecret, func(t *testing.T, e env) {
			deliverWith(t, e.recv, "another-secret-value", 2, started.Add(time.Hour))
		}, "", ""},
		{"wrong secret, but one accepted", withSecret, func(t *testing.T, e env) {
			deliverWith(t, e.recv, "another-secret-value", 5, started.Add(time.Hour))
			deliverWith(t, e.recv, testSecret, 1, started.Add(time.Hour))
		}, "", ""},
		{"wrong secret, long ago", withSecret, func(t *testing.T, e env) {
			deliverWith(t, e.recv, "another-secret-value", 5, started.Add(30*time.Minute))
		}, "", ""},
		{"scanners without a signature", withSecret, func(t *testing.T, e env) {
			deliverWith(t, e.recv, "", 20, started.Add(time.Hour))
		}, "", ""},
		{"clock off", withSecret, func(t *testing.T, e env) {
			e.recv.Now = func() time.Time { return started.Add(time.Hour) }
			for i := range 3 {
				body := clientBody(fmt.Sprint("ev-clock-", i), "client.created", map[string]any{"id": "1"})
				post(t, app.NewPublic(e.recv, app.PublicConfig{}), "POST", customersPath, body, intake.Sign(testSecret, started.Add(-time.Hour).Unix(), body))
			}
		}, app.ProblemRejected, "timestamp outside tolerance), so Robaws is being turned away: the clock"},
		{"silent: only rejected deliveries", withSecret, func(t *testing.T, e env) {
			e.cfg.SilenceAfter = 24 * time.Hour
			e.cfg.Now = func() time.Time { return started.Add(25 * time.Hour) }
			deliverWith(t, e.recv, "another-secret-value", 1, started.Add(24*time.Hour+30*time.Minute))
		}, app.ProblemSilent, "no delivery was accepted since robaws-edge started"},
		{"auto without token", withSecret, func(t *testing.T, e env) { e.cfg.NoPublicURL = true }, app.ProblemNoPublicURL, "NGROK_AUTHTOKEN"},
		{"tunnel offline", withSecret, func(t *testing.T, e env) {
			e.cfg.Tunnel = func() app.TunnelStatus {
				return app.TunnelStatus{Provider: "ngrok", Status: app.TunnelOffline, Error: "failed to dial ngrok server: connection refused"}
			}
		}, app.ProblemTunnelOffline, "connection refused"},
		{"not registered", withSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 200, 9000)
			e.cfg.Registrar = robaws.NewRegistrar(e.db, c, robaws.RegistrarConfig{})
			e.cfg.Tunnel = online
		}, app.ProblemNotRegistered, "https://office.ngrok.app" + customersPath},
		{"registered", withSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 200, 9000)
			e.cfg.Registrar = robaws.NewRegistrar(e.db, c, robaws.RegistrarConfig{})
			e.cfg.Tunnel = online
			if err := e.db.CreateSecret(context.Background(), &store.Secret{Endpoint: "customers", WebhookID: "77", URL: "https://office.ngrok.app" + customersPath, Value: "registered-secret-0001"}); err != nil {
				t.Fatal(err)
			}
		}, "", ""},
		{"database file removed", withSecret, func(t *testing.T, e env) {
			if err := os.Rename(e.db.Path(), e.db.Path()+".gone"); err != nil {
				t.Fatal(err)
			}
		}, app.ProblemStoreUnavailable, "robaws-edge.db"},
		{"sync failed", withSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 500, 9000)
			e.cfg.Syncer = robaws.NewSyncer(e.db, c, robaws.SyncerConfig{Map: func(b []byte) (*store.Customer, error) { return customer.Map(b, customer.Mapping{}) }})
			t.Cleanup(func() { e.cfg.Syncer.Close() })
			if _, err := e.cfg.Syncer.Run(context.Background(), time.Time{}); err == nil {
				t.Fatal("sync against a failing Robaws succeeded")
			}
		}, app.ProblemSyncFailed, "internal trouble"},
		{"budget low", withSecret, func(t *testing.T, e env) {
			c := fakeRobawsAPI(t, 200, 120)
			e.cfg.Robaws = c
			e.cfg.Syncer = robaws.NewSyncer(e.db, c, robaws.SyncerConfig{Map: func(b []byte) (*store.Customer, error) { return customer.Map(b, customer.Mapping{}) }})
			t.Cleanup(func() { e.cfg.Syncer.Close() })
			if _, err := e.cfg.Syncer.Run(context.Background(), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}, app.ProblemRobawsBudgetLow, "120 of 10000"},
		{"silent since start", withSecret, func(t *testing.T, e env) {
			e.cfg.SilenceAfter = 24 * time.Hour
			e.cfg.Now = func() time.Time { return started.Add(25 * time.Hour) }
		}, app.ProblemSilent, "since robaws-edge started"},
		{"silent exactly at silence_after", withSecret, func(t *testing.T, e env) {
			e.cfg.SilenceAfter = 24 * time.Hour
			e.cfg.Now = func() time.Time { return started.Add(24 * time.Hour) }
		}, app.ProblemSilent, "since robaws-edge started (health.silence_after 24h0m0s)"},
		{"not silent a nanosecond before", withSecret, func(t *testing.T, e env) {
			e.cfg.SilenceAfter = 24 * time.Hour
			e.cfg.Now = func() time.Time { return started.Add(24*time.Hour - 1) }
		}, "", ""},
		{"not silent after a delivery", withSecret, func(t *testing.T, e env) {
			e.cfg.SilenceAfter = 24 * time.Hour
			e.cfg.Now = func() time.Time { return started.Add(25 * time.Hour) }
			e.recv.Now = func() time.Time { return started.Add(24 * time.Hour) }
			body := clientBody("ev-silence", "client.created", map[string]any{"id": "1", "name": "A"})
			if a := post(t, app.NewPublic(e.recv, app.PublicConfig{}), "POST", customersPath, body, intake.Sign(testSecret, started.Add(24*time.Hour).Unix(), body)); a.Status != "processed" {
				t.Fatalf("delivery: %+v", a)
			}
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpenDB(t, "")
			recv := MustReceiver(t, db, time.Time{}, func(c *intake.Config) { c.Endpoints = tt.endpoints })
			cfg := app.LocalConfig{Started: started, Now: func() time.Time { return started.Add(time.Hour) }}
			if tt.setup != nil {
				tt.setup(t, env{db, recv, &cfg})
			}
			code, data := do(t, app.NewLocal(db, recv, cfg), "GET", "/api/health", "", nil)
			h := decode[app.Health](t, data)
			if code != 200 {
				t.Fatalf("health = %d %s", code, data)
			}
			if tt.wantCode == "" {
				if h.Status != "ok" || len(h.Problems) != 0 {
					t.Fatalf("health = %s %+v, want ok with no problem", h.Status, h.Problems)
				}
				return
			}
			if h.Status != "degraded" || len(h.Problems) != 1 || h.Problems[0].Code != tt.wantCode || !strings.Contains(h.Problems[0].Message, tt.wantInMsg) {
				t.Fatalf("health = %s %+v, want degraded with one %s mentioning %q", h.Status, h.Problems, tt.wantCode, tt.wantInMsg)
			}
			if strings.Contains(string(data), "health-test-key") || strings.Contains(string(data), testSecret) {
				t.Fatalf("health shows a secret: %s", data)
			}
		})
	}
}
