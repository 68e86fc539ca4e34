package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestForwardHealth: a target that answers 401 to everything for a while
// sets nothing aside, and /api/health names it as forward_behind with its
// answer; one that refuses an item three times makes forward_dead, which a
// resend after the fix clears, and both problems go. (The receiver of the
// app tests has an endpoint without a secret: health stays degraded for
// that, so the test reads the forwarding problems themselves.)
func TestForwardHealth(t *testing.T) {
	db := MustOpenDB(t, "")
	r := MustReceiver(t, db, time.Time{}, nil)
	target := forwardtest.NewTarget(t, forwardtest.Secret)
	var answer atomic.Int32
	answer.Store(401)
	target.SetAnswer(func(req forwardtest.Request) int {
		switch a := int(answer.Load()); {
		case a != 422:
			return a // 401 to everything, then 200
		case req.ID == "customers:ev-h-2":
			return 422 // the one item the app refuses
		}
		return 200
	})
	fwd, _ := startForwarder(t, db, forward.Config{Schedule: []time.Duration{20 * time.Millisecond}, Destinations: []forward.Destination{
		{Name: "office", Kind: forward.KindHTTP, URL: target.URL, Stream: store.StreamEvents, Secret: forwardtest.Secret,
			Timeout: time.Second, AlertAfter: 50 * time.Millisecond}}})
	ctx := context.Background()
	local := app.NewLocal(db, r, app.LocalConfig{Forward: fwd})
	pub := serve(t, app.NewPublic(r, app.PublicConfig{}))
	for i := range 3 {
		send(t, pub, testSecret, clientBody(fmt.Sprint("ev-h-", i), "client.updated", map[string]any{"id": fmt.Sprint(500 + i), "name": "H"}))
	}
	health := func() app.Health {
		_, data := do(t, local, "GET", "/api/health", "", nil)
		return decode[app.Health](t, data)
	}
	problem := func(h app.Health, code string) string {
		for _, p := range h.Problems {
			if p.Code == code {
				return p.Message
			}
		}
		return ""
	}
	var h app.Health
	waitFor(t, 10*time.Second, "forward_behind with the 401 and all 3 waiting", func() bool {
		h = health()
		msg := problem(h, app.ProblemForwardBehind)
		return strings.Contains(msg, "401 Unauthorized") && strings.Contains(msg, "3 item(s) waiting")
	})
	if msg := problem(h, app.ProblemForwardBehind); !strings.Contains(msg, "office") || problem(h, app.ProblemForwardDead) != "" || h.Status != "degraded" {
		t.Fatalf("health with a 401 target: %+v", h.Problems)
	}
	answer.Store(422) // fixed the auth; the app now refuses one item
	fwd.Resume(ctx, "office")
	waitFor(t, 10*time.Second, "forward_dead", func() bool {
		h = health()
		return problem(h, app.ProblemForwardDead) != "" && problem(h, app.ProblemForwardBehind) == ""
	})
	if msg := problem(h, app.ProblemForwardDead); !strings.Contains(msg, "office set 1 item(s) aside") || !strings.Contains(msg, "forward resend office --dead") {
		t.Fatalf("forward_dead = %q", msg)
	}
	answer.Store(200)
	if n, err := fwd.Resend(ctx, "office", forward.ResendRequest{Dead: true}); err != nil || n != 1 {
		t.Fatalf("resend: %d %v", n, err)
	}
	waitFor(t, 10*time.Second, "both forwarding problems gone", func() bool {
		h = health()
		return problem(h, app.ProblemForwardDead) == "" && problem(h, app.ProblemForwardBehind) == ""
	})
}
