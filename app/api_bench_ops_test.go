package app_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// BenchmarkOperatorQueries answers the admin's questions over 200,000 log
// entries of 20,000 customers, all received in the last 24 hours (issue 10;
// target p99 ≤ 10 ms each):
//
//	go test -run '^$' -bench BenchmarkOperatorQueries -benchtime 2000x ./app/
func BenchmarkOperatorQueries(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxGroup: 4096})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	const n, customers = 200_000, 20_000
	now := time.Now().UTC()
	start := time.Now()
	roles := []string{"BROKER", "FORWARDER", "CARRIER"}
	fillLog(b, db, n, 2048, func(i int) *store.Delivery {
		id := fmt.Sprint(i % customers)
		body := fmt.Appendf(nil, `{"id":"ev-%d","event":"client.updated","data":{"id":%q,"name":"Customer %s"}}`, i, id, id)
		d := &store.Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("ev-", i),
			ClientID: id, Payload: body, SignatureTimestamp: now.Unix(), RemoteAddr: "192.0.2.1",
			ReceivedAt: now.Add(-time.Duration(n-i) * 400 * time.Millisecond)}
		switch {
		case i%50 == 7:
			d.Status, d.Error = store.StatusFailed, "data.id missing"
		default:
			role := roles[(i/customers)%len(roles)]
			d.Record = customerRecord(&store.Customer{ID: id, Name: "Customer " + id, Role: &role, Currency: "EUR", IsActive: true,
				Version: d.ReceivedAt, Raw: body})
		}
		return d
	})
	b.Logf("filled %d log entries in %s (%s)", n, time.Since(start).Round(time.Second), byteSizeOf(db.Size()))
	recv := MustReceiver(b, db, time.Time{}, nil)
	base := serve(b, app.NewLocal(db, recv, app.LocalConfig{}))
	for _, q := range []struct{ name, path string }{
		{"client_id", "/api/webhook-logs?client_id=12345"},
		{"event_status", "/api/webhook-logs?event=client.updated&status=failed"},
		{"stats", "/api/stats"},
		{"changes", "/api/changes"},
		{"changes_role", "/api/changes?field=role"},
	} {
		b.Run(q.name, func(b *testing.B) { benchGet(b, base, []string{q.path}) })
	}
}
