package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// The local API's acceptance benchmarks (issue 3): p99 of one request over
// a real loopback connection, with the data built straight into the store.
// Run them with:
//
//	go test -run '^$' -bench 'BenchmarkCustomersSearch|BenchmarkLogsFailed' -benchtime 2000x ./app/
//
// Each reports p50-ms and p99-ms; the targets are p99 ≤ 5 ms (customers)
// and ≤ 10 ms (logs).

// benchGet measures GET base+paths[i % len(paths)] for every b.Loop
// iteration over one keep-alive connection and reports p50 and p99.
func benchGet(b *testing.B, base string, paths []string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		resp, err := client.Get(base + paths[i%len(paths)])
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET %s = %d, %v", paths[i%len(paths)], resp.StatusCode, err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// BenchmarkCustomersSearch searches 100,000 customers. The queries cycle
// through a unique match (email, VAT, phone: a full scan), a city shared by
// many (stops after a page) and no match at all (a full scan).
func BenchmarkCustomersSearch(b *testing.B) {
	db := MustOpenDB(b, filepath.Join(b.TempDir(), "bench.db"))
	const n = 100_000
	cities := []string{"Gent", "Antwerpen", "Brussel", "Leuven", "Brugge", "Hasselt", "Namur", "Liège"}
	batch := make([]*store.Customer, 0, 5000)
	for i := range n {
		email := fmt.Sprintf("info@company-%06d.example", i)
		phone := fmt.Sprintf("+32%09d", 470000000+i)
		vat := fmt.Sprintf("BE0%09d", 400000000+i)
		city := cities[i%len(cities)]
		batch = append(batch, &store.Customer{
			ID: fmt.Sprint(100000 + i), Name: fmt.Sprintf("Company %06d BV", i), Email: &email, Phone: &phone,
			VATNumber: &vat, Address: store.Address{City: &city}, Currency: "EUR", IsActive: i%10 != 0,
			Version: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, _, _, err := db.ApplyCustomers(context.Background(), batch, store.SourceSync); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if got := db.CustomerCount(); got != n {
		b.Fatalf("%d customers, want %d", got, n)
	}
	recv := MustReceiver(b, db, time.Time{}, nil)
	base := serve(b, app.NewLocal(db, recv, app.LocalConfig{}))
	benchGet(b, base, []string{
		"/api/customers?q=company-071234",
		"/api/customers?q=gent",
		"/api/customers?q=BE0400012345",
		"/api/customers?q=no-such-customer",
		"/api/customers?q=%2B32470055555",
	})
}

// BenchmarkLogsFailed pages the newest 50 failed entries out of 1,000,000
// log entries, one in ten of them failed.
func BenchmarkLogsFailed(b *testing.B) {
	// Bigger groups than the default make the one-off fill faster; the
	// query does not depend on them.
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxGroup: 4096})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	const n = 1_000_000
	start := time.Now()
	fillLog(b, db, n, 2048, func(i int) *store.Delivery {
		body := fmt.Appendf(nil, `{"id":"ev-%d","event":"client.updated","data":{"id":%d,"name":"Customer %d"}}`, i, i%5000, i%5000)
		d := &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("ev-", i),
			ClientID: fmt.Sprint(i % 5000), Payload: body, SignatureTimestamp: 1764489600, RemoteAddr: "192.0.2.1"}
		if i%10 == 3 {
			d.Status, d.Error = store.StatusFailed, "data.id missing"
		}
		return d
	})
	b.Logf("filled %d log entries in %s (%s)", n, time.Since(start).Round(time.Second), byteSizeOf(db.Size()))
	recv := MustReceiver(b, db, time.Time{}, nil)
	base := serve(b, app.NewLocal(db, recv, app.LocalConfig{}))
	benchGet(b, base, []string{"/api/webhook-logs?status=failed&limit=50"})
}

// fillLog ingests n deliveries from workers concurrent goroutines, so the
// store's group commit writes them in large transactions.
func fillLog(tb testing.TB, db *store.DB, n, workers int, mk func(i int) *store.Delivery) {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := db.Ingest(context.Background(), mk(i)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		tb.Fatal(err)
	}
}

func byteSizeOf(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
