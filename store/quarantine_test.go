package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestQuarantineBoundedAsStored floods the quarantine with several times
// its cap: the file stays bounded and the counter equals what is stored.
func TestQuarantineBoundedAsStored(t *testing.T) {
	const maxBytes = 1 << 20
	path := t.TempDir() + "/robaws-edge.db"
	db, err := Open(path, Options{QuarantineMaxBytes: maxBytes, RejectedLogMaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := fileSize(t, path)
	// Bodies that are not valid UTF-8 grow most in JSON (base64).
	body := bytes.Repeat([]byte{0xff, 'a'}, 1000)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < 6000; i += 32 {
				d := &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint(i), Status: StatusRejected,
					Error: "signature mismatch", Payload: body, SignatureHeader: "t=1,v1=00"}
				if _, err := db.Ingest(context.Background(), d); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Two budgets of maxBytes each.
	if grown := fileSize(t, path) - base; grown > 6*maxBytes {
		t.Errorf("file grew by %d bytes, want under %d (3× the caps)", grown, 6*maxBytes)
	}
	t.Logf("file grew by %d bytes", fileSize(t, path)-base)
	var counted, stored, logCounted, logStored int64
	db.view(func(tx *bolt.Tx) error {
		counted = int64(btoi(tx.Bucket(bucketMeta).Get(keyQuarantineBytes)))
		logCounted = int64(btoi(tx.Bucket(bucketMeta).Get(keyRejectedLogBytes)))
		tx.Bucket(bucketQuarantine).ForEach(func(k, v []byte) error {
			stored += int64(len(k) + storedOverhead + len(v))
			return nil
		})
		tx.Bucket(bucketLogs).ForEach(func(k, v []byte) error {
			logStored += rejectedLogSize(tx, btoi(k))
			return nil
		})
		return nil
	})
	if counted != stored || counted > maxBytes {
		t.Errorf("quarantine_bytes: got %d, want %d (what is stored), at most %d", counted, stored, maxBytes)
	}
	if logCounted != logStored || logCounted > maxBytes {
		t.Errorf("rejected_log_bytes: got %d, want %d (what is stored), at most %d", logCounted, logStored, maxBytes)
	}
	st, err := db.Stats(context.Background(), db.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	var logs int
	db.view(func(tx *bolt.Tx) error { logs = tx.Bucket(bucketLogs).Stats().KeyN; return nil })
	if st.ByStatus[StatusRejected] != int64(logs) || logs == 0 || logs == 6000 {
		t.Errorf("rejected counter %d, log entries %d: want equal, some dropped", st.ByStatus[StatusRejected], logs)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
