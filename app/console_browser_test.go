package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
)

// The console in a real browser: headless Chromium driven by chromedp
// against the daemon's own apps (a real store, Receiver, NewPublic and
// NewLocal on loopback listeners). Without Chromium these tests fail.
//
// With ROBAWS_EDGE_SCREENSHOTS=<dir> TestConsoleBrowser also writes the
// README's screenshots (1366×900) there:
//
//	ROBAWS_EDGE_SCREENSHOTS=$PWD/docs/console go test -run TestConsoleBrowser ./app/

// consoleErrors collects what a page reports as an error: uncaught
// exceptions, console.error calls and error entries of the browser log
// (a failed request, a CSP violation).
type consoleErrors struct {
	mu   sync.Mutex
	list []string
}

func (e *consoleErrors) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
	default:
		return
	}
	e.mu.Lock()
	e.list = append(e.list, msg)
	e.mu.Unlock()
}

func (e *consoleErrors) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// newBrowser starts headless Chromium and returns a tab; its errors are
// collected into errs. It fails the test when Chromium is missing.
func newBrowser(t *testing.T, errs *consoleErrors) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the console's browser tests need Chromium: install the Debian package chromium (apt-get install chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.WindowSize(1366, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(errs.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// act runs actions with a deadline, so a missing element fails the test
// instead of hanging it.
func act(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send posts a signed delivery to the receiver over HTTP; it returns the
// answer's log id (0 for a rejected one).
func send(t *testing.T, pubURL, secret string, body []byte) uint64 {
	t.Helper()
	req, _ := http.NewRequest("POST", pubURL+customersPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Robaws-Signature", intake.Sign(secret, time.Now().Unix(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAnswer(t, resp).LogID
}

// seedConsole delivers what an office sees after a while: customers with
// roles and changes, a failed delivery, a duplicate.
func seedConsole(t *testing.T, pubURL string) {
	t.Helper()
	day := time.Now().UTC().Add(-6 * time.Hour)
	names := []string{"Vandenberghe Transport", "Maes Logistics", "Peeters & Zonen", "De Smet Shipping", "Janssens Cargo", "Willems Freight"}
	roles := []string{"FORWARDER", "BROKER", "CARRIER"}
	for i, name := range names {
		data := map[string]any{"id": fmt.Sprint(2001 + i), "name": name, "email": fmt.Sprintf("info@%d.example", 2001+i),
			"tel": "09 2" + fmt.Sprint(100000+i), "vatNumber": fmt.Sprintf("0%d", 400000000+i), "extraFields": role(roles[i%3]),
			"address":   map[string]any{"addressLine1": fmt.Sprintf("Havenlaan %d", 10+i), "postalCode": "9000", "city": "Gent", "countryCode": "BE"},
			"updatedAt": day.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}
		send(t, pubURL, testSecret, clientBody(fmt.Sprint("ev-seed-", i), "client.created", data))
	}
	body := clientBody("ev-seed-dup", "client.updated", map[string]any{"id": "2002", "name": "Maes Logistics NV",
		"extraFields": role("BROKER"), "updatedAt": day.Add(time.Hour).Format(time.RFC3339)})
	send(t, pubURL, testSecret, body)
	send(t, pubURL, testSecret, body) // Robaws retried: counted, not processed again
	send(t, pubURL, testSecret, []byte(`{"id":"ev-seed-bad","event":"client.updated","data":"not an object"}`))
}

// TestConsoleBrowser walks the console as the office admin does, and
// fails on any JavaScript error on any page.
func TestConsoleBrowser(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pubURL := serve(t, app.NewPublic(r, app.PublicConfig{}))
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{Version: "1.4.0", ReceiverListen: strings.TrimPrefix(pubURL, "http://")}))
	seedConsole(t, pubURL)
	errs := &consoleErrors{}
	ctx := newBrowser(t, errs)
	shots := os.Getenv("ROBAWS_EDGE_SCREENSHOTS")
	shoot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("overview shows health and its problems", func(t *testing.T) {
		act(t, ctx, "open /", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#health")))
		if got := text(t, ctx, "#health"); !strings.Contains(got, "problem") || !strings.Contains(got, "no_active_secret") || !strings.Contains(got, "nosecret") {
			t.Fatalf("health = %q, want the no_active_secret problem of endpoint nosecret", got)
		}
		if got := text(t, ctx, "tbody[data-stream]"); !strings.Contains(got, "Maes Logistics") && !strings.Contains(got, "2002") {
			t.Fatalf("latest deliveries = %q", got)
		}
		shoot("overview")
	})

	t.Run("a new delivery appears on /deliveries without reload", func(t *testing.T) {
		act(t, ctx, "open /deliveries", chromedp.Navigate(base+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`tbody[data-live="open"]`)))
		id := send(t, pubURL, testSecret, clientBody("ev-live-1", "client.created", map[string]any{"id": "3001", "name": "Live Arrival BV"}))
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#ev-%d", id)))); err != nil {
			t.Fatalf("delivery %d not on the page within 5 s: %v", id, err)
		}
		t.Logf("appeared after %v", time.Since(start).Round(time.Millisecond))
		if got := text(t, ctx, fmt.Sprintf("#ev-%d", id)); !strings.Contains(got, "processed") || !strings.Contains(got, "3001") {
			t.Fatalf("live row = %q", got)
		}
		shoot("deliveries")
	})

	t.Run("a test delivery arrives on the live list with its badge", func(t *testing.T) {
		id := send(t, pubURL, testSecret, clientBody("ev-live-test", "client.updated", map[string]any{"id": "TEST-9", "name": "Test customer"}))
		act(t, ctx, "live test row", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#ev-%d .tag.test", id))))
		if got := text(t, ctx, fmt.Sprintf("#ev-%d", id)); !strings.Contains(got, "TEST-9 test") {
			t.Fatalf("live row = %q, want the test badge after the client id", got)
		}
	})

	t.Run("a bidi override arrives on the live list as a marker", func(t *testing.T) {
		id := send(t, pubURL, testSecret, clientBody("ev-live-bidi", "client.created", map[string]any{"id": "3003-\u202egpj.exe", "name": "Bidi"}))
		act(t, ctx, "live bidi row", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#ev-%d", id))))
		if got := text(t, ctx, fmt.Sprintf("#ev-%d", id)); !strings.Contains(got, `3003-\u202Egpj.exe`) || strings.ContainsRune(got, '\u202e') {
			t.Fatalf("live row = %q, want the override shown as \\u202E", got)
		}
	})

	t.Run("customer search and a role change on the timeline", func(t *testing.T) {
		send(t, pubURL, testSecret, clientBody("ev-role-1", "client.created", map[string]any{"id": "C-100", "name": "Forward Co",
			"extraFields": role("BROKER"), "updatedAt": "2026-01-05T09:00:00Z"}))
		send(t, pubURL, testSecret, clientBody("ev-role-2", "client.updated", map[string]any{"id": "C-100", "name": "Forward Co",
			"extraFields": role("FORWARDER"), "updatedAt": "2026-01-06T09:00:00Z"}))
		act(t, ctx, "search", chromedp.Navigate(base+"/customers"),
			chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "forward co"),
			chromedp.Submit(chromedp.CSS(`input[name="q"]`)),
			// The unfiltered list may show the link too: wait for the
			// results page before clicking, or the click lands mid-navigation.
			chromedp.WaitVisible(chromedp.CSS(`input[name="q"][value="forward co"]`)),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/customers/C-100"]`)),
			chromedp.Click(chromedp.CSS(`a[href="/customers/C-100"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-field="role"]`)))
		got := text(t, ctx, `#timeline li[data-field="role"]`)
		if !strings.Contains(got, "BROKER") || !strings.Contains(got, "FORWARDER") || strings.Index(got, "BROKER") > strings.Index(got, "FORWARDER") {
			t.Fatalf("timeline's role change = %q, want BROKER → FORWARDER", got)
		}
		if got := text(t, ctx, "#role"); got != "FORWARDER" {
			t.Fatalf("role = %q, want FORWARDER", got)
		}
		shoot("customer")
	})

	t.Run("rejected, secret pasted, replayed to processed", func(t *testing.T) {
		const secret = "9b2f61a4-robaws-shown-secret"
		send(t, pubURL, secret, clientBody("ev-unknown-secret", "client.updated", map[string]any{"id": "2003", "name": "Peeters & Zonen BV"}))
		id := rejectedID(t, db)
		act(t, ctx, "rejected page", chromedp.Navigate(fmt.Sprintf("%s/deliveries/%d", base, id)), chromedp.WaitVisible(chromedp.CSS("#status")))
		if got := text(t, ctx, "#status"); got != "rejected" {
			t.Fatalf("status = %q, want rejected", got)
		}
		act(t, ctx, "paste the secret", chromedp.Navigate(base+"/webhooks"),
			chromedp.SetValue(chromedp.CSS(`#add-secret select[name="endpoint"]`), "customers"),
			chromedp.SendKeys(chromedp.CSS(`#add-secret input[name="secret"]`), secret),
			chromedp.Click(chromedp.CSS(`#add-secret button`)),
			chromedp.WaitVisible(chromedp.CSS(".notice.good")))
		if got := text(t, ctx, "table.webhooks"); !strings.Contains(got, "registered") {
			t.Fatalf("webhooks = %q, want the new secret's hint", got)
		}
		shoot("webhooks")
		act(t, ctx, "replay", chromedp.Navigate(fmt.Sprintf("%s/deliveries/%d", base, id)),
			chromedp.Click(chromedp.Search(`//button[text()="Replay"]`)),
			chromedp.WaitVisible(chromedp.CSS(".notice.good")))
		if got := text(t, ctx, "#status"); got != "processed" {
			t.Fatalf("after Replay status = %q, want processed", got)
		}
		shoot("delivery")
	})

	t.Run("every page", func(t *testing.T) {
		for _, p := range []string{"/changes", "/changes?field=role", "/sync", "/customers?q=gent", "/deliveries?status=failed", "/customers/2001"} {
			act(t, ctx, p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		}
	})

	t.Run("with a token nothing before login, everything after", func(t *testing.T) {
		const token = "office-admin-token-1234"
		tokBase := serve(t, app.NewLocal(db, r, app.LocalConfig{Token: token}))
		tctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(errs.listen))
		defer cancel()
		// The first run binds the tab's life to its context: no deadline.
		if err := chromedp.Do(tctx, chromedp.EmulateViewport(1366, 900)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/", "/deliveries", "/customers/C-100", "/webhooks"} {
			act(t, tctx, p, chromedp.Navigate(tokBase+p), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
			if loc := location(t, tctx); loc != tokBase+"/login" {
				t.Fatalf("%s before login: at %s, want /login", p, loc)
			}
			if got := text(t, tctx, "body"); strings.Contains(got, "Forward Co") || strings.Contains(got, "Deliveries") {
				t.Fatalf("%s before login shows %q", p, got)
			}
		}
		act(t, tctx, "log in", chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token),
			chromedp.Submit(chromedp.CSS(`input[name="token"]`)), chromedp.WaitVisible(chromedp.CSS("#health")))
		act(t, tctx, "customer", chromedp.Navigate(tokBase+"/customers/C-100"), chromedp.WaitVisible(chromedp.CSS("#timeline")))
		act(t, tctx, "live list", chromedp.Navigate(tokBase+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`tbody[data-live="open"]`)))
		id := send(t, pubURL, testSecret, clientBody("ev-live-token", "client.created", map[string]any{"id": "3002", "name": "After Login"}))
		act(t, tctx, "live row", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#ev-%d", id))))
		act(t, tctx, "log out", chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
		act(t, tctx, "after logout", chromedp.Navigate(tokBase+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
	})

	if list := errs.get(); len(list) > 0 {
		t.Fatalf("JavaScript errors on the console's pages:\n%s", strings.Join(list, "\n"))
	}
}
