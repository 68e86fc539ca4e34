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
			var ev LogEntry
			if err := unmarshalLogEntry(v, &ev); err != nil {
				t.Fatal(err)
			}
			logStored += rejectedLogSize(tx, &ev)
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

// TestQuarantineChunks checks the chunked quarantine: a request is kept in
// chunks that fit four to a page, reads back whole, and a value stored
// whole by an older version (an 8-byte key) still reads, and is trimmed
// and counted like the chunked ones.
func TestQuarantineChunks(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir()+"/robaws-edge.db", Options{QuarantineMaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reject := func(n int) uint64 {
		t.Helper()
		body := bytes.Repeat([]byte{byte(n)}, 5000+n)
		res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Status: StatusRejected, Error: "signature mismatch",
			Payload: body, SignatureHeader: fmt.Sprintf("t=1,v1=%d", n)})
		if err != nil {
			t.Fatal(err)
		}
		return res.LogID
	}
	legacy := reject(1)
	// Store the first one whole, as before chunking.
	err = db.update(func(tx *bolt.Tx) error {
		data, err := findQuarantined(tx, legacy)
		if err != nil {
			return err
		}
		if err := dropQuarantined(tx, legacy); err != nil {
			return err
		}
		v := encodeQuarantined(data.SignatureHeader, data.Body)
		if err := tx.Bucket(bucketQuarantine).Put(itob(legacy), v); err != nil {
			return err
		}
		_, err = addCounter(tx, keyQuarantineBytes, int64(8+storedOverhead+len(v)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	chunked := reject(2)
	for id, n := range map[uint64]int{legacy: 1, chunked: 2} {
		p, err := db.FindPayload(ctx, id)
		if err != nil || len(p.Body) != 5000+n || p.Body[0] != byte(n) || p.SignatureHeader != fmt.Sprintf("t=1,v1=%d", n) {
			t.Fatalf("payload %d: %d bytes, header %q, %v; want %d bytes of %d", id, len(p.Body), p.SignatureHeader, err, 5000+n, n)
		}
	}
	pageSize := db.bolt.Info().PageSize
	db.view(func(tx *bolt.Tx) error {
		var chunks int
		tx.Bucket(bucketQuarantine).ForEach(func(k, v []byte) error {
			if len(k) == chunkKeySize {
				chunks++
				if len(v) > db.chunkSize {
					t.Errorf("chunk %x: %d bytes, want at most %d", k, len(v), db.chunkSize)
				}
			}
			return nil
		})
		if chunks < 5 {
			t.Errorf("chunks: got %d, want the 5 KB request in several", chunks)
		}
		return nil
	})
	if 4*(db.chunkSize+chunkKeySize+elemSize)+pageHeaderSize > pageSize {
		t.Fatalf("four chunks of %d bytes do not fit a page of %d", db.chunkSize, pageSize)
	}
	// Enough to push both out of the 64 KiB cap.
	for n := 3; n < 40; n++ {
		reject(n)
	}
	for _, id := range []uint64{legacy, chunked} {
		if _, err := db.FindPayload(ctx, id); err != ErrNotFound {
			t.Fatalf("payload %d after the trim: got %v, want ErrNotFound", id, err)
		}
	}
	var counted, stored int64
	db.view(func(tx *bolt.Tx) error {
		counted = int64(btoi(tx.Bucket(bucketMeta).Get(keyQuarantineBytes)))
		if st := tx.Bucket(bucketQuarantine).Stats(); st.LeafOverflowN != 0 {
			t.Errorf("quarantine leaf pages span %d overflow pages, want none (page size %d)", st.LeafOverflowN, pageSize)
		}
		return tx.Bucket(bucketQuarantine).ForEach(func(k, v []byte) error {
			stored += int64(len(k) + storedOverhead + len(v))
			if len(k) != chunkKeySize {
				t.Errorf("key %x left after the trim", k)
			}
			return nil
		})
	})
	if counted != stored || counted > 64<<10 {
		t.Fatalf("quarantine_bytes: got %d, want %d (what is stored), at most %d", counted, stored, 64<<10)
	}
}

// TestQuarantineDropsOldestFirst: past its cap the quarantine drops the
// oldest payloads, whole, and keeps the newest; the log lines stay.
func TestQuarantineDropsOldestFirst(t *testing.T) {
	const maxBytes = 64 << 10
	db, err := Open(t.TempDir()+"/robaws-edge.db", Options{QuarantineMaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var ids []uint64
	for i := range 40 {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 4000) // 40 × 4 KB: about 2.5 times the cap
		res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("q", i),
			Status: StatusRejected, Error: "signature mismatch", Payload: body, SignatureHeader: "t=1,v1=00"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.LogID)
	}
	kept := 0
	for i, id := range ids {
		p, err := db.FindPayload(ctx, id)
		switch {
		case err == nil && !bytes.Equal(p.Body, bytes.Repeat([]byte{byte('a' + i%26)}, 4000)):
			t.Fatalf("entry %d kept a damaged payload", i)
		case err == nil:
			kept++
		case kept > 0:
			t.Fatalf("entry %d lost its payload after an older one kept its own: not oldest first", i)
		}
		if _, err := db.FindLogEntry(ctx, id); err != nil {
			t.Fatalf("log line %d gone: %v", i, err)
		}
	}
	if kept == 0 || kept == len(ids) {
		t.Fatalf("%d of %d payloads kept, want the newest few under the cap", kept, len(ids))
	}
	if _, err := db.FindPayload(ctx, ids[len(ids)-1]); err != nil {
		t.Fatalf("the newest payload is gone: %v", err)
	}
}

// TestRejectedLogBytesAfterDuplicateReplay: a rejected entry replayed,
// verified, whose event was processed meanwhile under another entry, grows
// by a status-history item; the rejected log's byte count follows, so it
// still equals what the rejected entries take.
func TestRejectedLogBytesAfterDuplicateReplay(t *testing.T) {
	db, ctx := MustOpenDB(t), context.Background()
	rej, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e1", ClientID: "1",
		Status: StatusRejected, Error: "timestamp outside tolerance", Payload: []byte(`{}`), SignatureHeader: "t=1,v1=00"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e1", ClientID: "1", Status: StatusIgnored}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e1", ClientID: "1",
		Status: StatusIgnored, Payload: []byte(`{}`), Source: SourceReplay, ReplayOf: rej.LogID})
	if err != nil || res.Status != StatusDuplicate {
		t.Fatalf("replay = %+v, %v; want duplicate", res, err)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		counted := int64(btoi(tx.Bucket(bucketMeta).Get(keyRejectedLogBytes)))
		ev, err := findLogEntry(tx, rej.LogID)
		if err != nil {
			return err
		}
		if ev.Status != StatusRejected || len(ev.StatusHistory) < 2 {
			t.Fatalf("replayed entry: %+v", ev)
		}
		if actual := rejectedLogSize(tx, ev); counted != actual {
			t.Errorf("rejected_log_bytes %d, the rejected entry takes %d", counted, actual)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
