package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIngest32 measures the store alone, without HTTP: 32 goroutines
// ingest 20,000 unique client.updated deliveries over 5,000 customers, each
// waiting for its own durable commit as the receiver does. Besides the
// throughput it reports how many pages bbolt writes per delivery (the pages
// of each commit, the meta page included, over the deliveries it carried),
// which together with BenchmarkDiskSync explains the intake ceiling on a
// given disk. Run it with:
//
//	go test -run '^$' -bench BenchmarkIngest32 -benchtime 1x ./store/
//	go test -run '^$' -bench BenchmarkDiskSync -benchtime 500x ./store/
func BenchmarkIngest32(b *testing.B) {
	const senders, perRun, customers = 32, 20000, 5000
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		db := MustOpenDB(b)
		now := time.Now().UTC()
		ds := make([]*Delivery, perRun)
		for i := range ds {
			id := fmt.Sprint(i % customers)
			email, city, role := fmt.Sprintf("c%d@example.com", i), "Antwerpen", fmt.Sprint("ROLE ", i%7)
			body := fmt.Sprintf(`{"id":"bench-%d-%d","event":"client.updated","data":{"id":%q,"name":"Customer %s","email":%q,"address":{"city":%q},"padding":"%0400d"}}`, iter, i, id, id, email, city, i)
			ds[i] = &Delivery{
				Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprintf("bench-%d-%d", iter, i), ClientID: id,
				ReceivedAt: now, SignatureTimestamp: now.Unix(), RemoteAddr: "127.0.0.1", SecretID: "config-1",
				Payload: []byte(body),
				Record: prepared(&Customer{ID: id, Name: "Customer " + id, Email: &email, Address: Address{City: &city}, Role: &role,
					Currency: "EUR", IsActive: true, Version: now.Add(time.Duration(i) * time.Millisecond), Raw: []byte(body)}),
			}
		}
		pages0 := pagesWritten(db)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(ds) {
						return
					}
					if res, err := db.Ingest(context.Background(), ds[i]); err != nil || res.Status != StatusProcessed {
						b.Errorf("ingest %d: %+v %v", i, res, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		pages := float64(pagesWritten(db)-pages0) / perRun
		b.Logf("store ingest, 32 goroutines: %.0f deliveries/s, %.2f pages written per delivery", perRun/elapsed.Seconds(), pages)
		b.ReportMetric(perRun/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(pages, "pages/delivery")
		db.Close()
		b.StartTimer()
	}
}

// pagesWritten is how many page writes db's committed transactions made.
func pagesWritten(db *DB) int64 {
	st := db.bolt.Stats()
	return st.TxStats.GetWrite()
}
