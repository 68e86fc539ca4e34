package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
)

// loadResult is one phase of BenchmarkIntake.
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	non2xx   int64
}

// runLoad posts reqs[i] to url from senders concurrent goroutines over
// keep-alive connections and measures throughput and latency.
func runLoad(tb testing.TB, url string, reqs [][2][]byte, senders int) loadResult {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, len(reqs))
	var next, non2xx atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(reqs[i][0]))
				req.Header.Set("Robaws-Signature", string(reqs[i][1]))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					tb.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode/100 != 2 {
					non2xx.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return loadResult{
		rps:    float64(len(reqs)) / elapsed.Seconds(),
		p50:    lat[len(lat)/2],
		p99:    lat[len(lat)*99/100],
		non2xx: non2xx.Load(),
	}
}

// BenchmarkIntake compares, in one run under the same loopback load, a
// no-op Fiber handler with the full durable intake (verify, de-dup, log,
// customer upsert, history). 32 senders, unique event ids over 5,000
// customers. Run it with:
//
//	go test -run '^$' -bench BenchmarkIntake -benchtime 1x ./app/
//
// Each b.N iteration sends 20,000 requests to each server.
func BenchmarkIntake(b *testing.B) {
	const senders, perPhase, customers = 32, 20000, 5000
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		now := time.Now()
		reqs := make([][2][]byte, perPhase)
		for i := range reqs {
			id := fmt.Sprintf("bench-%d-%d-%d", now.UnixNano(), iter, i)
			body := []byte(fmt.Sprintf(`{"id":%q,"event":"client.updated","data":{"id":"%d","name":"Customer %d","email":"c%d@example.com","tel":"0471 12 34 %02d","vatNumber":"BE0437.311.%03d","address":{"addressLine1":"Street %d","postalCode":"2000","city":"Antwerpen","country":"Belgium"},"extraFields":{"Role":{"stringValue":"ROLE %d"},"PRICING":{"stringValue":"TIER A"}},"updatedAt":%q}}`,
				id, i%customers, i%customers, i, i%100, i%1000, i, i%7, now.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano)))
			reqs[i] = [2][]byte{body, []byte(intake.Sign(testSecret, now.Unix(), body))}
		}

		noop := fiber.New(fiber.Config{DisableStartupMessage: true})
		noop.Post(customersPath, func(c *fiber.Ctx) error { return c.SendStatus(200) })
		noopURL := serve(b, noop) + customersPath

		db := MustOpenDB(b, "")
		intakeURL := serve(b, app.NewPublic(MustReceiver(b, db, time.Time{}, nil), app.PublicConfig{})) + customersPath

		// Warm both servers' connections with a few requests.
		runLoad(b, noopURL, reqs[:senders], senders)
		b.StartTimer()
		base := runLoad(b, noopURL, reqs, senders)
		ours := runLoad(b, intakeURL, reqs, senders)
		b.StopTimer()
		if ours.non2xx != 0 {
			b.Fatalf("%d deliveries were not answered 2xx", ours.non2xx)
		}
		ratio := ours.rps / base.rps
		b.Logf("no-op handler: %.0f req/s  p50 %v  p99 %v", base.rps, base.p50, base.p99)
		b.Logf("full intake:   %.0f req/s  p50 %v  p99 %v", ours.rps, ours.p50, ours.p99)
		b.Logf("ratio intake/no-op: %.2f (target >= 0.3), intake p99 %v (target <= 25ms)", ratio, ours.p99)
		b.ReportMetric(base.rps, "noop-req/s")
		b.ReportMetric(ours.rps, "intake-req/s")
		b.ReportMetric(ratio, "ratio")
		b.ReportMetric(float64(ours.p50.Microseconds())/1000, "intake-p50-ms")
		b.ReportMetric(float64(ours.p99.Microseconds())/1000, "intake-p99-ms")
		b.StartTimer()
	}
}
