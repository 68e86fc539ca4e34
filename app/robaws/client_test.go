package robaws_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/app/robaws"
)

// fakeRobaws is an in-memory Robaws API on a loopback httptest server:
// webhook registrations and a sorted list of clients.
type fakeRobaws struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []fakeRequest
	webhooks []fakeWebhook
	nextID   int
	deleted  []string
	clients  [][]byte // raw client objects, in id order
	// intercept, when set, may answer a request itself (e.g. a 429) by
	// returning true. It runs without mu held.
	intercept func(w http.ResponseWriter, r *http.Request) bool
	// dailyLimit, when positive, makes the fake announce a daily budget
	// per mode on every answer, as Robaws does; remaining counts down.
	dailyLimit int
	remaining  map[string]int
	// refuseUpdatedFrom answers 400 to GET /api/v2/clients with updatedFrom.
	refuseUpdatedFrom bool
}

type fakeRequest struct {
	Method, Path  string
	Query         map[string]string
	Authorization string
	UserAgent     string
	Accept        string
	DatabaseMode  string
}

type fakeWebhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret,omitempty"`
}

func newFakeRobaws(tb testing.TB) *fakeRobaws {
	tb.Helper()
	f := &fakeRobaws{remaining: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/webhook-endpoints", f.handleRegister)
	mux.HandleFunc("GET /api/v2/webhook-endpoints", f.handleList)
	mux.HandleFunc("DELETE /api/v2/webhook-endpoints/{id}", f.handleDelete)
	mux.HandleFunc("GET /api/v2/clients", f.handleClients)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[k] = v[0]
		}
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: q,
			Authorization: r.Header.Get("Authorization"), UserAgent: r.Header.Get("User-Agent"), Accept: r.Header.Get("Accept"),
			DatabaseMode: r.Header.Get("Database-Mode")})
		intercept := f.intercept
		if f.dailyLimit > 0 {
			mode := "live"
			if r.Header.Get("Database-Mode") == "replica" {
				mode = "replica"
			}
			if _, ok := f.remaining[mode]; !ok {
				f.remaining[mode] = f.dailyLimit
			}
			f.remaining[mode] = max(f.remaining[mode]-1, 0)
			w.Header().Set("X-RateLimit-Daily-Limit", strconv.Itoa(f.dailyLimit))
			w.Header().Set("X-RateLimit-Daily-Remaining", strconv.Itoa(f.remaining[mode]))
			w.Header().Set("X-RateLimit-Daily-Reset", "3600")
			w.Header().Set("X-RateLimit-Remaining", "14")
		}
		refuse := f.refuseUpdatedFrom && r.URL.Path == "/api/v2/clients" && r.URL.Query().Has("updatedFrom")
		f.mu.Unlock()
		if refuse {
			http.Error(w, `{"message":"Unknown parameter updatedFrom"}`, http.StatusBadRequest)
			return
		}
		if intercept != nil && intercept(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(f.srv.Close)
	return f
}

// secretFor is the secret the fake hands out for registration n.
func secretFor(n int) string { return fmt.Sprintf("whsec-%d-9f8e7d6c5b4a", n) }

func (f *fakeRobaws) handleRegister(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.URL == "" {
		http.Error(w, `{"message":"url is required"}`, http.StatusUnprocessableEntity)
		return
	}
	f.mu.Lock()
	f.nextID++
	wh := fakeWebhook{ID: fmt.Sprintf("63f591e0-%04d", f.nextID), URL: in.URL, Events: in.Events, Secret: secretFor(f.nextID)}
	f.webhooks = append(f.webhooks, wh)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(wh)
}

func (f *fakeRobaws) handleList(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	list := make([]fakeWebhook, 0, len(f.webhooks))
	for _, wh := range f.webhooks {
		wh.Secret = ""
		list = append(list, wh)
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"items": list, "totalItems": len(list)})
}

func (f *fakeRobaws) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.webhooks, func(wh fakeWebhook) bool { return wh.ID == id })
	if i < 0 {
		http.Error(w, `{"message":"webhook endpoint not found"}`, http.StatusNotFound)
		return
	}
	f.webhooks = slices.Delete(f.webhooks, i, i+1)
	f.deleted = append(f.deleted, id)
	w.WriteHeader(http.StatusNoContent)
}

// handleClients serves pages of f.clients; updatedFrom is only recorded.
func (f *fakeRobaws) handleClients(w http.ResponseWriter, r *http.Request) {
	page, err1 := strconv.Atoi(r.URL.Query().Get("page"))
	size, err2 := strconv.Atoi(r.URL.Query().Get("size"))
	if err1 != nil || err2 != nil || size <= 0 || r.URL.Query().Get("sort") != "id:asc" {
		http.Error(w, `{"message":"bad paging"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	clients := f.clients
	f.mu.Unlock()
	lo, hi := min(page*size, len(clients)), min((page+1)*size, len(clients))
	buf := make([]byte, 0, 64+(hi-lo)*600)
	buf = append(buf, `{"items":[`...)
	for i, c := range clients[lo:hi] {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, c...)
	}
	buf = append(buf, `],"totalItems":`...)
	buf = strconv.AppendInt(buf, int64(len(clients)), 10)
	buf = append(buf, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf)
}

// Requests returns the requests received so far matching method and path
// ("" = any).
func (f *fakeRobaws) Requests(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) {
			out = append(out, r)
		}
	}
	return out
}

// Deleted returns the webhook ids deleted so far.
func (f *fakeRobaws) Deleted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleted)
}

// Webhooks returns the registrations that exist at the fake.
func (f *fakeRobaws) Webhooks() []fakeWebhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.webhooks)
}

func (f *fakeRobaws) setIntercept(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.intercept = fn
	f.mu.Unlock()
}

// sleeps records the waits a Robaws client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d >= time.Second { // ignore the rate limiter's sub-second spacing
		s.ds = append(s.ds, d)
	}
	return ctx.Err()
}

func (s *sleeps) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ds)
}

const (
	testAPIKey   = "rk_live_0123456789abcdef"
	testUser     = "api-edge"
	testPassword = "pa55-w0rd-xyz"
)

// newTestRobaws returns a Robaws client of f with a bearer API key and a
// recording Sleep; mutate may change the config.
func newTestRobaws(tb testing.TB, f *fakeRobaws, mutate func(*robaws.Config)) (*robaws.Client, *sleeps) {
	tb.Helper()
	sl := &sleeps{}
	cfg := robaws.Config{BaseURL: f.srv.URL, APIKey: testAPIKey, RequestsPerSecond: 1e6, Version: "1.2.3", Sleep: sl.Sleep}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := robaws.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r, sl
}

func TestNewRobawsCredentials(t *testing.T) {
	tests := []struct {
		name    string
		cfg     robaws.Config
		wantErr error // nil: no error; errAny: some other error
	}{
		{"none", robaws.Config{}, robaws.ErrNoCredentials},
		{"username only", robaws.Config{Username: "u"}, robaws.ErrNoCredentials},
		{"password only", robaws.Config{Password: "p"}, robaws.ErrNoCredentials},
		{"basic", robaws.Config{Username: "u", Password: "p"}, nil},
		{"api key", robaws.Config{APIKey: "k"}, nil},
		{"credentials in base url", robaws.Config{APIKey: "k", BaseURL: "https://u:hunter2@robaws.example"}, errAny},
		{"relative base url", robaws.Config{APIKey: "k", BaseURL: "robaws.example"}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := robaws.New(tt.cfg)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Fatal("err = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestRobawsAuthHeaders(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword))
	tests := []struct {
		name     string
		cfg      func(*robaws.Config)
		wantAuth string
	}{
		{"bearer", nil, "Bearer " + testAPIKey},
		{"basic", func(c *robaws.Config) { c.APIKey, c.Username, c.Password = "", testUser, testPassword }, basic},
		{"api key wins over basic", func(c *robaws.Config) { c.Username, c.Password = testUser, testPassword }, "Bearer " + testAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRobaws(t)
			r, _ := newTestRobaws(t, f, tt.cfg)
			if _, err := r.ListWebhooks(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.ListCustomers(context.Background(), 0, time.Time{}); err != nil {
				t.Fatal(err)
			}
			reqs := f.Requests("", "")
			if len(reqs) != 2 {
				t.Fatalf("got %d requests, want 2", len(reqs))
			}
			for _, req := range reqs {
				got := [3]string{req.Authorization, req.UserAgent, req.Accept}
				want := [3]string{tt.wantAuth, "robaws-edge/1.2.3", "application/json"}
				if got != want {
					t.Errorf("%s %s: headers %q, want %q", req.Method, req.Path, got, want)
				}
			}
			wantQuery := map[string]string{"page": "0", "size": "100", "sort": "id:asc"}
			if diff := cmp.Diff(wantQuery, reqs[1].Query); diff != "" {
				t.Errorf("clients query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRobawsRegisterFixture(t *testing.T) {
	fixture := readFixture(t, "webhook-endpoint-created.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if r.Method != "POST" || r.URL.Path != "/api/v2/webhook-endpoints" || in["url"] == nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", 400)
			return
		}
		w.Write(fixture)
	}))
	defer srv.Close()
	r, err := robaws.New(robaws.Config{BaseURL: srv.URL, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.RegisterWebhook(context.Background(), "https://office-edge.ngrok.app"+customersPath, []string{"client.created", "client.updated"})
	if err != nil {
		t.Fatal(err)
	}
	want := &robaws.Webhook{ID: "63f591e0-0000-4b39-998a-000000000001", URL: "https://office-edge.ngrok.app" + customersPath,
		Events: []string{"client.created", "client.updated"}, Secret: "0f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("webhook (-want +got):\n%s", diff)
	}
	// The secret stays out of every printed or logged form.
	for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%v %+v", *got, *got), mustJSON(t, got)} {
		if strings.Contains(s, want.Secret) {
			t.Errorf("%q shows the secret", s)
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestRobawsListShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"array", `[{"id":"a","url":"https://x/1","events":["client.updated"]},{"id":7,"url":"https://x/2","events":[]}]`},
		{"items", `{"items":[{"id":"a","url":"https://x/1","events":["client.updated"]},{"id":7,"url":"https://x/2","events":[]}],"totalItems":2}`},
	}
	want := []robaws.Webhook{{ID: "a", URL: "https://x/1", Events: []string{"client.updated"}}, {ID: "7", URL: "https://x/2", Events: []string{}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			r, _ := robaws.New(robaws.Config{BaseURL: srv.URL, APIKey: "k", RequestsPerSecond: 1000})
			got, err := r.ListWebhooks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("webhooks (-want +got):\n%s", diff)
			}
			page, err := r.ListCustomers(context.Background(), 0, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			wantTotal := -1
			if tt.name == "items" {
				wantTotal = 2
			}
			if len(page.Items) != 2 || page.TotalItems != wantTotal {
				t.Fatalf("clients page: %d items, total %d; want 2, %d", len(page.Items), page.TotalItems, wantTotal)
			}
		})
	}
}

func TestRobawsRetryAfter(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		retryAfter []string // one per 429 answered before success
		wantWaits  []time.Duration
		wantErr    bool
	}{
		{"seconds", []string{"2"}, []time.Duration{2 * time.Second}, false},
		{"http date", []string{date}, nil, false}, // 2–3 s, checked below
		{"exponential without header", []string{"", "", ""}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, false},
		{"five retries then success", []string{"1", "1", "1", "1", "1"}, []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second}, false},
		{"gives up after five retries", []string{"1", "1", "1", "1", "1", "1"}, []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second}, true},
		{"retry-after too long", []string{"86400"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRobaws(t)
			var mu sync.Mutex
			n := 0
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				if n >= len(tt.retryAfter) {
					return false
				}
				if ra := tt.retryAfter[n]; ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				n++
				http.Error(w, `{"message":"too many requests"}`, http.StatusTooManyRequests)
				return true
			})
			r, sl := newTestRobaws(t, f, nil)
			_, err := r.ListCustomers(context.Background(), 0, time.Time{})
			if tt.wantErr {
				var re *robaws.Error
				if !errors.As(err, &re) || re.StatusCode != 429 || !strings.Contains(err.Error(), "too many requests") {
					t.Fatalf("err = %v, want a 429 RobawsError with the message", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got := sl.Waits()
			if tt.name == "http date" {
				if len(got) != 1 || got[0] < time.Second || got[0] > 3*time.Second {
					t.Fatalf("waits %v, want one of 1–3 s", got)
				}
				return
			}
			if diff := cmp.Diff(tt.wantWaits, got); diff != "" {
				t.Fatalf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRobawsErrorMessages(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name        string
		status      int
		body        string
		wantMessage string
	}{
		{"message", 422, `{"message":"url must use https"}`, "url must use https"},
		{"error", 400, `{"error":"Invalid event: client.deleted"}`, "Invalid event: client.deleted"},
		{"detail", 403, `{"title":"Forbidden","detail":"API access is disabled for this user"}`, "API access is disabled for this user"},
		{"nested error", 400, `{"error":{"code":"E42","message":"unknown event"}}`, "unknown event"},
		{"errors list", 422, `{"errors":[{"field":"url","message":"must be unique"}]}`, "must be unique"},
		{"text", 404, "  no such\n  thing  ", "no such thing"},
		{"html", 502, "<html><body>Bad gateway</body></html>", ""},
		{"capped", 400, long, strings.Repeat("x", 300) + "…"},
		{"credentials redacted", 401, `{"message":"bad credentials: ` + testAPIKey + `"}`, "bad credentials: [redacted]"},
		{"server error", 500, `{"message":"internal"}`, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRobaws(t)
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
				return true
			})
			r, _ := newTestRobaws(t, f, nil)
			_, err := r.RegisterWebhook(context.Background(), "https://x.example/hook", []string{"client.updated"})
			var re *robaws.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RobawsError", err)
			}
			if re.StatusCode != tt.status || re.Message != tt.wantMessage {
				t.Fatalf("got %d %q, want %d %q", re.StatusCode, re.Message, tt.status, tt.wantMessage)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tt.status)) || !strings.Contains(err.Error(), "/api/v2/webhook-endpoints") {
				t.Errorf("error %q lacks the status or the request", err)
			}
			if strings.Contains(err.Error(), testAPIKey) {
				t.Errorf("error %q shows the API key", err)
			}
			if n := len(f.Requests("", "")); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
}

func TestRobawsDeleteWebhook(t *testing.T) {
	f := newFakeRobaws(t)
	r, _ := newTestRobaws(t, f, nil)
	ctx := context.Background()
	wh, err := r.RegisterWebhook(ctx, "https://x.example/hook", []string{"client.updated"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteWebhook(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	// Deleting what is gone is not an error.
	if err := r.DeleteWebhook(ctx, wh.ID); err != nil {
		t.Fatalf("second delete: %v, want nil", err)
	}
	if diff := cmp.Diff([]string{wh.ID}, f.Deleted()); diff != "" {
		t.Fatalf("deleted (-want +got):\n%s", diff)
	}
}

func TestRobawsRateLimit(t *testing.T) {
	f := newFakeRobaws(t)
	r, _ := newTestRobaws(t, f, func(c *robaws.Config) { c.RequestsPerSecond, c.Sleep = 50, nil })
	start := time.Now()
	for range 6 {
		if _, err := r.ListWebhooks(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 6 requests at 50/s: the 6th leaves 100 ms after the first.
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Fatalf("6 requests took %v, want ≥ 100ms at 50 requests/s", d)
	}
}
