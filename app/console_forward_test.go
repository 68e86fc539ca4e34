package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestForwardBrowser walks the forwarding pages in headless Chromium: a
// destination whose app refused an item three times shows it dead with the
// app's answer; after the fix, Resend delivers it; Pause and Resume work.
//
// With ROBAWS_EDGE_SCREENSHOTS=<dir> it writes forward.png and
// forward-destination.png there.
func TestForwardBrowser(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	pubURL := serve(t, app.NewPublic(r, app.PublicConfig{}))
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	var fixed atomic.Bool
	target.SetAnswer(func(req forwardtest.Request) int {
		if req.ID == "customers:ev-fwd-2" && !fixed.Load() {
			return 422
		}
		return 200
	})
	fwd, _ := startForwarder(t, db, forward.Config{Schedule: []time.Duration{50 * time.Millisecond}, Destinations: []forward.Destination{
		{Name: "office-app", Kind: forward.KindHTTP, URL: target.URL + "/robaws", Stream: store.StreamEvents, Secret: forwardtest.Secret, Timeout: 2 * time.Second},
		{Name: "central", Kind: forward.KindNATS, URL: "nats://127.0.0.1:1", Stream: store.StreamChanges, Timeout: 100 * time.Millisecond},
	}})
	base := serve(t, app.NewLocal(db, r, app.LocalConfig{Forward: fwd}))

	for i := range 5 {
		send(t, pubURL, testSecret, clientBody(fmt.Sprint("ev-fwd-", i), "client.updated", map[string]any{"id": fmt.Sprint(4000 + i), "name": fmt.Sprint("Forwarded ", i)}))
	}
	waitForward(t, fwd, "one dead item", func(s forward.Status) bool { return s.Dead == 1 && s.Pending == 0 })

	errs := &consoleErrors{}
	bctx := newBrowser(t, errs)
	shoot := func(name string) {
		if dir := os.Getenv("ROBAWS_EDGE_SCREENSHOTS"); dir != "" {
			png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	act(t, bctx, "open /forward", chromedp.Navigate(base+"/forward"), chromedp.WaitVisible(chromedp.CSS("#dest-office-app")))
	if got := text(t, bctx, "#dest-office-app"); !strings.Contains(got, "office-app") || !strings.Contains(got, target.Addr()+"/robaws") {
		t.Fatalf("office-app row = %q", got)
	}
	if got := text(t, bctx, "#dest-central"); !strings.Contains(got, "changes") || !strings.Contains(got, "nats") {
		t.Fatalf("central row = %q", got)
	}
	shoot("forward")

	act(t, bctx, "open the destination", chromedp.Click(chromedp.CSS(`a[href="/forward/office-app"]`)), chromedp.WaitVisible(chromedp.CSS("table.dead")))
	if got := text(t, bctx, "table.dead"); !strings.Contains(got, "customers:ev-fwd-2") || !strings.Contains(got, "422 Unprocessable Entity") {
		t.Fatalf("dead items = %q", got)
	}
	if got := text(t, bctx, "table.attempts"); !strings.Contains(got, `{"answer":422}`) {
		t.Fatalf("attempts lack the app's answer: %q", got)
	}
	shoot("forward-destination")

	fixed.Store(true)
	act(t, bctx, "Resend", chromedp.Click(chromedp.Search(`//table[contains(@class,"dead")]//button[text()="Resend"]`)), chromedp.WaitVisible(chromedp.CSS(".notice.good")))
	if got := text(t, bctx, ".notice.good"); !strings.Contains(got, "queued 1 item") {
		t.Fatalf("notice = %q", got)
	}
	waitForward(t, fwd, "the resent item delivered", func(s forward.Status) bool { return s.Dead == 0 && s.Pending == 0 && s.Delivered == 5 })
	act(t, bctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.dead")))
	if got := text(t, bctx, "table.dead"); !strings.Contains(got, "No dead item") {
		t.Fatalf("dead items after the resend = %q", got)
	}

	act(t, bctx, "Pause", chromedp.Click(chromedp.Search(`//button[text()="Pause"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"notice") and contains(.,"office-app paused")]`)))
	if s, _ := fwd.Status("office-app"); s.Status != "paused" {
		t.Fatalf("after Pause: %s", s.Status)
	}
	if got := text(t, bctx, "h1"); !strings.Contains(got, "paused") {
		t.Fatalf("title after Pause = %q", got)
	}
	act(t, bctx, "Resume", chromedp.Click(chromedp.Search(`//button[text()="Resume"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"notice") and contains(.,"office-app resumed")]`)))
	if s, _ := fwd.Status("office-app"); s.Status != "ok" {
		t.Fatalf("after Resume: %s", s.Status)
	}
	act(t, bctx, "overview links it", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`a[href="/forward/office-app"]`)))
	if list := errs.get(); len(list) > 0 {
		t.Fatalf("JavaScript errors on the forwarding pages:\n%s", strings.Join(list, "\n"))
	}
}

// startForwarder makes a forwarder of cfg over db and runs it until stop,
// which cleanup calls too.
func startForwarder(tb testing.TB, db *store.DB, cfg forward.Config) (fwd *forward.Forwarder, stop func()) {
	tb.Helper()
	fwd, err := forward.New(db, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := fwd.Init(ctx); err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); fwd.Run(ctx) }()
	stop = func() { cancel(); <-done }
	tb.Cleanup(stop)
	return fwd, stop
}

// waitForward waits until office-app's status meets cond.
func waitForward(t *testing.T, f *forward.Forwarder, what string, cond func(forward.Status) bool) {
	t.Helper()
	waitFor(t, 20*time.Second, "timed out waiting for "+what, func() bool {
		s, err := f.Status("office-app")
		return err == nil && cond(s)
	})
}
