package forward_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestDeadItemMadeStaleIsResent: a dead item whose entry a later replay
// made stale was in the stream, so it stays re-sendable: by id, and with
// --dead, it reaches the target as it was (SPEC §8: dead items are kept
// until re-sent or pruned).
func TestDeadItemMadeStaleIsResent(t *testing.T) {
	for _, how := range []string{"dead", "id"} {
		t.Run(how, func(t *testing.T) {
			db, _ := openDB(t)
			target := forwardtest.NewTarget(t, forwardtest.Secret)
			var fixed atomic.Bool
			target.SetAnswer(func(r forwardtest.Request) int {
				if r.ID == "customers:e3" && !fixed.Load() {
					return 422
				}
				return 200
			})
			f, _ := run(t, db, nil, httpDest("office", target.URL))
			ids := ingest(t, db, 0, 11) // e10 updates C3 after e3
			waitStatus(t, f, "office", "e3 dead", func(s forward.Status) bool { return s.Dead == 1 && s.Pending == 0 })

			// The admin replays e3: C3 holds a newer version, so it is stale now.
			c := &store.Customer{ID: "C3", Name: "Name 3", Currency: "EUR", IsActive: true, Version: time.Date(2026, 6, 1, 8, 0, 3, 0, time.UTC)}
			res, err := db.Ingest(context.Background(), &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e3",
				ClientID: "C3", Record: customerRecord(c), Source: store.SourceReplay, ReplayOf: ids[3],
				Payload: []byte(`{"id":"e3","event":"client.updated","data":{"id":"C3"}}`)})
			if err != nil || res.Status != store.StatusStale {
				t.Fatalf("replay: %+v %v", res, err)
			}
			fixed.Store(true)
			r := forward.ResendRequest{Dead: true}
			if how == "id" {
				r = forward.ResendRequest{IDs: []string{"customers:e3"}}
			}
			if n, err := f.Resend(context.Background(), "office", r); err != nil || n != 1 {
				t.Fatalf("resend = %d, %v; want 1 queued", n, err)
			}
			target.WaitFor(t, "e3 accepted", 20*time.Second, func(rs []forwardtest.Request) bool {
				for _, r := range rs {
					if r.ID == "customers:e3" && r.Status == 200 {
						return true
					}
				}
				return false
			})
			s := waitStatus(t, f, "office", "nothing pending", func(s forward.Status) bool { return s.Pending == 0 && s.Dead == 0 })
			if dead, _ := f.Dead(context.Background(), "office"); len(dead) != 0 || s.Delivered != 11 {
				t.Fatalf("dead %v, status %+v; want none dead and 11 delivered", dead, s)
			}
		})
	}
}
