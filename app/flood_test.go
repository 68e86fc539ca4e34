package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
	bolt "go.etcd.io/bbolt"
)

// usedBytes is the used part of a closed bbolt file: its high-water mark
// times the page size, as its meta page says.
func usedBytes(tb testing.TB, path string) int64 {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer bdb.Close()
	var n int64
	bdb.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// TestRejectedFloodBoundsTheFile floods the real receiver with rejected
// requests of the shape that grew the file without bound (issue 15.1):
// big bodies, a 3.4 KB signature header with 51 v1 elements, 20 rounds with
// a restart after the tenth. The used part of the file must stay under the
// README's bound, 3 × (quarantine cap + rejected log budget) over what it
// held before the flood; the file itself under that plus bbolt's growth
// step (the size doubles below 16 MiB). Before chunking the quarantine,
// the used part passed 11 MB here and kept growing.
func TestRejectedFloodBoundsTheFile(t *testing.T) {
	const (
		quarantineMax = 2 << 20
		rejectedMax   = 1 << 20
		rounds        = 20
		perRound      = 150
		senders       = 16
	)
	path := filepath.Join(t.TempDir(), "robaws-edge.db")
	opts := store.Options{QuarantineMaxBytes: quarantineMax, RejectedLogMaxBytes: rejectedMax, Timeout: time.Second}
	var header strings.Builder
	fmt.Fprintf(&header, "t=%d", time.Now().Unix())
	for i := range 51 {
		fmt.Fprintf(&header, ",v1=%064x", i)
	}
	if header.Len() < 3400 {
		t.Fatalf("signature header is %d bytes, want 3.4 KB", header.Len())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()

	// start serves the receiver over the file; stop shuts it down and
	// closes the store, as a restart does.
	start := func() (url string, stop func()) {
		db, err := store.Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		recv := MustReceiver(t, db, time.Time{}, func(c *intake.Config) { c.RejectedPerMinute = 1 << 30 })
		pub := app.NewPublic(recv, app.PublicConfig{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() { pub.Listener(ln); close(served) }()
		return "http://" + ln.Addr().String(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			pub.ShutdownWithContext(ctx)
			// A shutdown right after the start may come before Serve
			// took the listener.
			ln.Close()
			<-served
			client.CloseIdleConnections()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	url, stop := start()
	stop()
	base := usedBytes(t, path)
	url, stop = start()
	for round := range rounds {
		if round == rounds/2 {
			stop()
			url, stop = start()
		}
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := s; i < perRound; i += senders {
					// A JSON body, so the rejected entry gets its event and
					// client indexes too, padded to 64 KiB.
					prefix := fmt.Sprintf(`{"id":"r%d-%d","event":"client.updated","data":{"id":"C-%d","name":"`, round, i, i)
					body := prefix + strings.Repeat("x", 64<<10-len(prefix)-3) + `"}}`
					req, _ := http.NewRequest("POST", url+customersPath, strings.NewReader(body))
					req.Header.Set("Robaws-Signature", header.String())
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("round %d request %d: got %d, want 401", round, i, resp.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			stop()
			return
		}
	}
	stop()
	used, bound := usedBytes(t, path), base+3*(quarantineMax+rejectedMax)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	t.Logf("after %d rejected requests: used %d bytes (bound %d), file %d bytes", rounds*perRound, used, bound, size)
	if used > bound {
		t.Errorf("used part of the file: got %d bytes, want at most %d (3 × the caps over %d)", used, bound, base)
	}
	// bbolt grows a file under 16 MiB to the next power of two, a larger
	// one by 16 MiB.
	if fileBound := max(2*bound, bound+16<<20); size > fileBound {
		t.Errorf("file size: got %d bytes, want at most %d", size, fileBound)
	}
	// Every quarantined request still reads back whole.
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, _, err := db.FindLogEntries(context.Background(), store.LogFilter{Status: store.StatusRejected, Limit: 5})
	if err != nil || len(evs) == 0 {
		t.Fatalf("rejected entries: %d, %v", len(evs), err)
	}
	p, err := db.FindPayload(context.Background(), evs[0].ID)
	if err != nil || len(p.Body) != 64<<10 || p.SignatureHeader != header.String() || !bytes.HasSuffix(p.Body, []byte(`x"}}`)) {
		t.Fatalf("newest quarantined request: body %d bytes, header %d bytes, %v; want them whole", len(p.Body), len(p.SignatureHeader), err)
	}
}
