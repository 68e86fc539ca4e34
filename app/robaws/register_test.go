package robaws_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// registerEnv is a registrar over a temp store and a fake Robaws, with all
// logs captured and the OnSecretsChanged calls counted.
type registerEnv struct {
	db      *store.DB
	fake    *fakeRobaws
	reg     *robaws.Registrar
	clock   *clock
	logs    *syncBuffer
	reloads atomic.Int32
}

var registerT0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// testEndpoints are the registrar's view of the default customers endpoint
// and a second one.
func testEndpoints(autoRegister bool) []robaws.Hook {
	return []robaws.Hook{
		{Name: "customers", Path: customersPath, Events: []string{"client.created", "client.updated"}, AutoRegister: autoRegister},
		{Name: "articles", Path: "/api/webhooks/robaws/articles", Events: []string{"article.updated"}},
	}
}

func newRegisterEnv(t *testing.T, autoRegister bool) *registerEnv {
	t.Helper()
	e := &registerEnv{db: MustOpenDB(t), fake: newFakeRobaws(t), clock: &clock{t: registerT0}, logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "robaws")
	e.db.Now = e.clock.Now
	client, _ := newTestRobaws(t, e.fake, func(c *robaws.Config) { c.Logger = logger })
	e.reg = robaws.NewRegistrar(e.db, client, robaws.RegistrarConfig{
		Hooks: testEndpoints(autoRegister),
		OnSecretsChanged: func(ctx context.Context) error {
			e.reloads.Add(1)
			return nil
		},
		Now: e.clock.Now, Logger: logger,
	})
	return e
}

// verifying returns the secrets a delivery to the customers endpoint may be
// signed with at the clock's time, as the receiver reads them from the
// store on OnSecretsChanged: active and not past ExpiresAt.
func (e *registerEnv) verifying(t *testing.T) []string {
	t.Helper()
	list, err := e.db.FindSecrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list {
		if s.Endpoint == "customers" && s.Active && (s.ExpiresAt.IsZero() || e.clock.Now().Before(s.ExpiresAt)) {
			out = append(out, s.Value)
		}
	}
	return out
}

// checkVerifying fails unless OnSecretsChanged ran since the last check and
// exactly want verify.
func (e *registerEnv) checkVerifying(t *testing.T, want ...string) {
	t.Helper()
	if n := e.reloads.Swap(0); n == 0 {
		t.Errorf("OnSecretsChanged not called, want the receiver told")
	}
	if diff := cmp.Diff(want, e.verifying(t)); diff != "" {
		t.Errorf("verifying secrets (-want +got):\n%s", diff)
	}
}

// checkNoSecrets fails if a secret the fake handed out appears in the logs
// or in any of texts.
func (e *registerEnv) checkNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for n := 1; n <= 10; n++ {
		s := secretFor(n)
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("logs contain secret %q:\n%s", s, e.logs.String())
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("%q contains secret %q", text, s)
			}
		}
	}
	for _, cred := range []string{testAPIKey} {
		if strings.Contains(e.logs.String(), cred) {
			t.Errorf("logs contain credential %q", cred)
		}
	}
}

func TestRegister(t *testing.T) {
	e := newRegisterEnv(t, false)
	ctx := context.Background()
	url := "https://office-edge.ngrok.app" + customersPath
	s, err := e.reg.Register(ctx, "customers", url, false)
	if err != nil {
		t.Fatal(err)
	}
	// Stored before Register returned, with what Robaws answered.
	stored, err := e.db.FindSecretByID(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	wh := e.fake.Webhooks()
	if len(wh) != 1 {
		t.Fatalf("%d registrations at Robaws, want 1", len(wh))
	}
	want := &store.Secret{ID: s.ID, Endpoint: "customers", WebhookID: wh[0].ID, URL: url,
		Events: []string{"client.created", "client.updated"}, Value: secretFor(1), Active: true, CreatedAt: registerT0, AddedBy: store.AddedByRobaws}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Fatalf("stored secret (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wh[0].Events, want.Events); diff != "" {
		t.Errorf("events sent to Robaws (-want +got):\n%s", diff)
	}
	if s.Hint() != "…"+secretFor(1)[len(secretFor(1))-4:] {
		t.Errorf("hint %q", s.Hint())
	}

	// A delivery signed with the new secret verifies at once.
	e.checkVerifying(t, secretFor(1))

	// A second registration is refused without force ...
	_, err = e.reg.Register(ctx, "customers", url, false)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second Register: err = %v, want store.ErrConflict", err)
	}
	if n := len(e.fake.Webhooks()); n != 1 {
		t.Fatalf("%d registrations at Robaws after the refusal, want 1", n)
	}
	// ... and allowed with it; both secrets then verify.
	s2, err := e.reg.Register(ctx, "customers", url, true)
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID == s.ID || s2.Value != secretFor(2) {
		t.Fatalf("forced registration: id %s value hint %s", s2.ID, s2.Hint())
	}
	e.checkVerifying(t, secretFor(1), secretFor(2))
	e.checkNoSecrets(t, err2s(err))
	checkComponentOnce(t, e.logs.String(), "robaws", 2)
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRegisterErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown endpoint", func(t *testing.T) {
		e := newRegisterEnv(t, false)
		if _, err := e.reg.Register(ctx, "nope", "https://x.example/h", false); !errors.Is(err, store.ErrUnknownEndpoint) {
			t.Fatalf("err = %v, want store.ErrUnknownEndpoint", err)
		}
	})
	t.Run("bad url", func(t *testing.T) {
		e := newRegisterEnv(t, false)
		for _, u := range []string{"", "/api/x", "ftp://x.example/h"} {
			if _, err := e.reg.Register(ctx, "customers", u, false); !errors.Is(err, robaws.ErrInvalidURL) {
				t.Fatalf("url %q: err = %v, want ErrInvalidURL", u, err)
			}
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		e := newRegisterEnv(t, false)
		reg := robaws.NewRegistrar(e.db, nil, robaws.RegistrarConfig{Hooks: testEndpoints(true)})
		if _, err := reg.Register(ctx, "customers", "https://x.example/h", false); !errors.Is(err, robaws.ErrNoCredentials) {
			t.Fatalf("Register: err = %v, want ErrNoCredentials", err)
		}
		if err := reg.EnsureRegistered(ctx, "https://x.example"); err != nil {
			t.Fatalf("EnsureRegistered: err = %v, want nil (nothing to do)", err)
		}
	})
	t.Run("robaws refuses", func(t *testing.T) {
		e := newRegisterEnv(t, false)
		e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(422)
			w.Write([]byte(`{"message":"url must be reachable"}`))
			return true
		})
		_, err := e.reg.Register(ctx, "customers", "https://x.example/h", false)
		var re *robaws.Error
		if !errors.As(err, &re) || re.StatusCode != 422 || !strings.Contains(err.Error(), "url must be reachable") {
			t.Fatalf("err = %v, want the 422 with Robaws' message", err)
		}
		if list, _ := e.db.FindSecrets(ctx); len(list) != 0 {
			t.Fatalf("%d secrets stored, want none", len(list))
		}
	})
	t.Run("store fails after registering", func(t *testing.T) {
		e := newRegisterEnv(t, false)
		e.db.Close()
		_, err := e.reg.Register(ctx, "customers", "https://x.example"+customersPath, true)
		if err == nil {
			t.Fatal("err = nil, want a storage error")
		}
		// The registration whose secret could not be kept is deleted again.
		if len(e.fake.Webhooks()) != 0 || len(e.fake.Deleted()) != 1 {
			t.Fatalf("registrations at Robaws %v, deleted %v; want none left, one deleted", e.fake.Webhooks(), e.fake.Deleted())
		}
		e.checkNoSecrets(t, err.Error())
	})
}

func TestDeleteRemote(t *testing.T) {
	e := newRegisterEnv(t, false)
	ctx := context.Background()
	s, err := e.reg.Register(ctx, "customers", "https://office-edge.ngrok.app"+customersPath, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.reg.DeleteRemote(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{s.WebhookID}, e.fake.Deleted()); diff != "" {
		t.Fatalf("deleted at Robaws (-want +got):\n%s", diff)
	}
	reqs := e.fake.Requests("DELETE", "/api/v2/webhook-endpoints/"+s.WebhookID)
	if len(reqs) != 1 || reqs[0].Authorization != "Bearer "+testAPIKey {
		t.Fatalf("DELETE requests %+v, want one with the API key", reqs)
	}
	got, err := e.db.FindSecretByID(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active {
		t.Fatal("secret still active after DeleteRemote")
	}
	e.checkVerifying(t) // the deleted secret no longer verifies
	// Again: already inactive here and gone at Robaws, still fine.
	if err := e.reg.DeleteRemote(ctx, s.ID); err != nil {
		t.Fatalf("second DeleteRemote: %v", err)
	}
	if err := e.reg.DeleteRemote(ctx, "999"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: err = %v, want store.ErrNotFound", err)
	}
	manual := &store.Secret{Endpoint: "customers", Value: "typed-in-secret"}
	if err := e.db.CreateSecret(ctx, manual); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.DeleteRemote(ctx, manual.ID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("secret without webhook id: err = %v, want store.ErrConflict", err)
	}
	e.checkNoSecrets(t)
}

func TestEnsureRegistered(t *testing.T) {
	e := newRegisterEnv(t, true)
	ctx := context.Background()
	urlA, urlB := "https://a1b2.ngrok-free.app", "https://c3d4.ngrok-free.app/"

	if err := e.reg.EnsureRegistered(ctx, urlA); err != nil {
		t.Fatal(err)
	}
	first := e.fake.Webhooks()
	if len(first) != 1 || first[0].URL != urlA+customersPath {
		t.Fatalf("registrations %+v, want one at %s", first, urlA+customersPath)
	}
	// Already registered at this URL: nothing new.
	if err := e.reg.EnsureRegistered(ctx, urlA); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Requests("POST", "")); n != 1 {
		t.Fatalf("%d registrations requested, want 1", n)
	}
	e.checkVerifying(t, secretFor(1))

	// The public URL changes: a new registration, the old one deleted.
	if err := e.reg.EnsureRegistered(ctx, urlB); err != nil {
		t.Fatal(err)
	}
	now := e.fake.Webhooks()
	if len(now) != 1 || now[0].URL != strings.TrimSuffix(urlB, "/")+customersPath {
		t.Fatalf("registrations %+v, want only one at %s", now, urlB+customersPath)
	}
	if diff := cmp.Diff([]string{first[0].ID}, e.fake.Deleted()); diff != "" {
		t.Fatalf("deleted at Robaws (-want +got):\n%s", diff)
	}
	list, err := e.db.FindSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].ExpiresAt.Equal(registerT0.Add(time.Hour)) || !list[1].ExpiresAt.IsZero() {
		t.Fatalf("secrets %+v, want the old one expiring at %v and the new one not", list, registerT0.Add(time.Hour))
	}

	// During the grace period both secrets verify.
	e.clock.Set(registerT0.Add(59 * time.Minute))
	e.checkVerifying(t, secretFor(1), secretFor(2))
	// After it, only the new one.
	e.clock.Set(registerT0.Add(61 * time.Minute))
	if diff := cmp.Diff([]string{secretFor(2)}, e.verifying(t)); diff != "" {
		t.Fatalf("after grace, verifying secrets (-want +got):\n%s", diff)
	}
	// The next run deactivates the expired secret and registers nothing.
	if err := e.reg.EnsureRegistered(ctx, urlB); err != nil {
		t.Fatal(err)
	}
	if old, _ := e.db.FindSecretByID(ctx, list[0].ID); old.Active {
		t.Errorf("expired secret still active")
	}
	if n := len(e.fake.Requests("POST", "")); n != 2 {
		t.Fatalf("%d registrations requested, want 2", n)
	}
	e.checkNoSecrets(t)
}

// TestEnsureRegisteredRetriesDelete: when Robaws cannot delete the old
// registration, its secret stays valid and the next run retries.
func TestEnsureRegisteredRetriesDelete(t *testing.T) {
	e := newRegisterEnv(t, true)
	ctx := context.Background()
	if err := e.reg.EnsureRegistered(ctx, "https://a.example"); err != nil {
		t.Fatal(err)
	}
	failing := true
	var mu sync.Mutex
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == "DELETE" && failing {
			w.WriteHeader(503)
			w.Write([]byte(`{"message":"maintenance"}`))
			return true
		}
		return false
	})
	if err := e.reg.EnsureRegistered(ctx, "https://b.example"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Webhooks()); n != 2 {
		t.Fatalf("%d registrations at Robaws, want 2 (delete failed)", n)
	}
	list, _ := e.db.FindSecrets(ctx)
	if !list[0].ExpiresAt.IsZero() {
		t.Fatalf("old secret expires at %v, want no expiry while Robaws still has it", list[0].ExpiresAt)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if err := e.reg.EnsureRegistered(ctx, "https://b.example"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Webhooks()); n != 1 {
		t.Fatalf("%d registrations at Robaws, want 1 after the retry", n)
	}
	if n := len(e.fake.Requests("POST", "")); n != 2 {
		t.Fatalf("%d registrations requested, want 2", n)
	}
}

// TestEnsureRegisteredReturnsErrors: a failed auto-registration is
// returned, naming the endpoint and URL, for the caller to log; the
// registrar does not log it too.
func TestEnsureRegisteredReturnsErrors(t *testing.T) {
	e := newRegisterEnv(t, true)
	e.fake.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != "POST" {
			return false
		}
		w.WriteHeader(422)
		w.Write([]byte(`{"message":"url must be reachable"}`))
		return true
	})
	err := e.reg.EnsureRegistered(context.Background(), "https://a.example")
	var re *robaws.Error
	if !errors.As(err, &re) || re.StatusCode != 422 || !strings.Contains(err.Error(), "auto-register customers at https://a.example"+customersPath) {
		t.Fatalf("err = %v, want the 422 for customers at its URL", err)
	}
	if logs := e.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "url must be reachable") {
		t.Errorf("the registrar logged the error it returned:\n%s", logs)
	}
}
