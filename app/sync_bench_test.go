package app_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/customer"
)

// BenchmarkSync100k syncs 100,000 clients (1,000 pages) from the fake API
// into an empty store and reports clients/s. Each iteration uses a fresh
// store, so every client is created (with its history entry).
//
//	go test -run '^$' -bench BenchmarkSync100k -benchtime 3x ./app/
func BenchmarkSync100k(b *testing.B) {
	const n = 100_000
	f := newFakeRobaws(b)
	f.clients = makeClients(1, n, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	robaws, _ := newTestRobaws(b, f, func(c *app.RobawsConfig) { c.RequestsPerSecond = 1e6; c.Sleep = nil })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := MustOpenDB(b, "")
		s := app.NewSyncer(db, robaws, customer.Mapping{}, slog.New(slog.DiscardHandler))
		b.StartTimer()
		p, err := s.Run(context.Background(), time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		if p.Applied != n {
			b.Fatalf("applied %d, want %d", p.Applied, n)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "clients/s")
}
