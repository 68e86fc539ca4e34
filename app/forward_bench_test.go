package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// BenchmarkIntakeForward measures, in one run under the same loopback load
// (32 senders, 10,000 deliveries over 5,000 customers), the durable intake
// without a destination, with one HTTP destination and with one JetStream
// destination (SPEC §8: throughput and p99 within noise of each other), and
// how long after the last delivery was answered each destination had all
// 10,000 (target: 10 s). Run it with:
//
//	go test -run '^$' -bench BenchmarkIntakeForward -benchtime 1x -count 5 ./app/
func BenchmarkIntakeForward(b *testing.B) {
	const senders, n, customers = 32, 10000, 5000
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		now := time.Now()
		reqs := make([][2][]byte, n)
		for i := range reqs {
			body := fmt.Appendf(nil, `{"id":"fwd-%d-%d-%d","event":"client.updated","data":{"id":"%d","name":"Customer %d","email":"c%d@example.com","address":{"city":"Gent"},"updatedAt":%q}}`,
				now.UnixNano(), iter, i, i%customers, i, i, now.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano))
			reqs[i] = [2][]byte{body, []byte(intake.Sign(testSecret, now.Unix(), body))}
		}
		noop := fiber.New(fiber.Config{DisableStartupMessage: true})
		noop.Post(customersPath, func(c *fiber.Ctx) error { return c.SendStatus(200) })
		noopURL := serve(b, noop) + customersPath
		runLoad(b, noopURL, reqs[:senders], senders)

		// phase runs the intake over a fresh store, with dest (if any)
		// forwarding, and returns the load and the catch-up time.
		phase := func(dest *forward.Destination, done func() int) (loadResult, time.Duration) {
			db := MustOpenDB(b, "")
			var dests []forward.Destination
			if dest != nil {
				dests = append(dests, *dest)
			}
			_, stop := startForwarder(b, db, forward.Config{Destinations: dests})
			defer stop()
			url := serve(b, app.NewPublic(MustReceiver(b, db, time.Time{}, nil), app.PublicConfig{})) + customersPath
			res := runLoad(b, url, reqs, senders)
			if res.non2xx != 0 {
				b.Fatalf("%d deliveries not answered 2xx", res.non2xx)
			}
			if done == nil {
				return res, 0
			}
			last := time.Now()
			deadline := last.Add(60 * time.Second)
			for done() < n {
				if time.Now().After(deadline) {
					b.Fatalf("%s: %d of %d forwarded after 60 s", dest.Name, done(), n)
				}
				time.Sleep(2 * time.Millisecond)
			}
			return res, time.Since(last)
		}

		b.StartTimer()
		base := runLoad(b, noopURL, reqs, senders)
		plain, _ := phase(nil, nil)
		target := forwardtest.NewTarget(b, forwardtest.Secret)
		httpDest := &forward.Destination{Name: "office", Kind: forward.KindHTTP, URL: target.URL, Stream: store.StreamEvents, Secret: forwardtest.Secret}
		withHTTP, httpLag := phase(httpDest, func() int { return len(target.Accepted()) })
		_, natsURL := forwardtest.StartNATS(b, b.TempDir(), -1)
		natsDest := &forward.Destination{Name: "central", Kind: forward.KindNATS, URL: natsURL, Stream: store.StreamEvents}
		withNATS, natsLag := phase(natsDest, forwardtest.StreamMessages(b, natsURL, "ROBAWS"))
		b.StopTimer()
		b.Logf("no-op %.0f req/s; intake %.0f req/s p99 %v; with http %.0f req/s p99 %v, all forwarded %v after the last answer; with nats %.0f req/s p99 %v, all forwarded %v after",
			base.rps, plain.rps, plain.p99, withHTTP.rps, withHTTP.p99, httpLag.Round(time.Millisecond), withNATS.rps, withNATS.p99, natsLag.Round(time.Millisecond))
		b.ReportMetric(base.rps, "noop-req/s")
		b.ReportMetric(plain.rps, "intake-req/s")
		b.ReportMetric(withHTTP.rps, "http-req/s")
		b.ReportMetric(withNATS.rps, "nats-req/s")
		b.ReportMetric(float64(plain.p99.Microseconds())/1000, "intake-p99-ms")
		b.ReportMetric(float64(withHTTP.p99.Microseconds())/1000, "http-p99-ms")
		b.ReportMetric(float64(withNATS.p99.Microseconds())/1000, "nats-p99-ms")
		b.ReportMetric(httpLag.Seconds(), "http-catchup-s")
		b.ReportMetric(natsLag.Seconds(), "nats-catchup-s")
		b.StartTimer()
	}
}
