package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
	bolt "go.etcd.io/bbolt"
)

// allCustomers lists every customer of db as JSON, sorted by name.
func allCustomers(tb testing.TB, db *store.DB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	f := store.CustomerFilter{Limit: store.MaxLimit}
	for {
		page, next, err := db.FindCustomers(context.Background(), f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range page {
			data, _ := json.Marshal(c)
			out[c.ID] = string(data)
		}
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

// TestBackup downloads a snapshot through Client while deliveries keep
// arriving, and checks that it is a sound bbolt file holding the customers
// stored before it began.
func TestBackup(t *testing.T) {
	fx := newFixture(t, app.LocalConfig{Token: "tok"})
	for i := range 300 {
		fx.deliver(t, fmt.Sprint("c", i), testSecret, clientBody(fmt.Sprint("seed-", i), "client.created",
			map[string]any{"id": i, "name": fmt.Sprintf("Customer %03d", i), "extraFields": role("r")}))
	}
	before := allCustomers(t, fx.db)
	base := serve(t, fx.local)
	publicURL := serve(t, fx.public)

	// Keep deliveries coming until the backup is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := clientBody(fmt.Sprintf("bg-%d-%d", w, i), "client.created", map[string]any{"id": fmt.Sprintf("bg-%d-%d", w, i), "name": "Background"})
				req, _ := newSigned(publicURL+customersPath, body, intake.Sign(testSecret, fx.now.Unix(), body))
				if resp, err := httpClient.Do(req); err == nil {
					resp.Body.Close()
					sent.Add(1)
				}
			}
		})
	}
	waitFor(t, 10*time.Second, "20 background deliveries", func() bool { return sent.Load() >= 20 })
	c := app.NewClient(base[len("http://"):], "tok")
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Backup(context.Background(), f)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != n || n == 0 {
		t.Fatalf("backup is %d bytes, client read %d", fi.Size(), n)
	}

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("backup does not open with bbolt: %v", err)
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	bdb.Close()
	if err != nil {
		t.Fatalf("backup check: %v", err)
	}
	copyDB, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	got := allCustomers(t, copyDB)
	for id, want := range before {
		if got[id] != want {
			t.Errorf("customer %s in backup:\n got %s\nwant %s", id, got[id], want)
		}
	}
	if len(got) < len(before) || len(got) > len(allCustomers(t, fx.db)) {
		t.Errorf("backup holds %d customers; %d before, %d after", len(got), len(before), len(allCustomers(t, fx.db)))
	}

	// A snapshot left open would make the store's Close at cleanup hang.
	if code, data := do(t, fx.local, "GET", "/api/backup?x=1", "tok", nil); code != 400 {
		t.Errorf("backup with a parameter = %d %s, want 400", code, data)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// newSigned builds a delivery request with a Robaws-Signature header.
func newSigned(url string, body []byte, sig string) (*http.Request, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Robaws-Signature", sig)
	return req, nil
}
