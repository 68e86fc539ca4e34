package forward_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/forward/forwardtest"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestNATSStreamGone: a stream deleted under a running destination (or a
// server back with fresh storage) is created again (SPEC §8: a missing
// stream is created), and forwarding goes on without a restart.
func TestNATSStreamGone(t *testing.T) {
	db, _ := openDB(t)
	_, url := forwardtest.StartNATS(t, t.TempDir(), -1)
	d := forward.Destination{Name: "central", Kind: forward.KindNATS, URL: url, Stream: store.StreamEvents,
		Subject: "robaws.{endpoint}.{event}", NATSStream: "ROBAWS", Timeout: time.Second}
	f, _ := run(t, db, nil, d)
	ingest(t, db, 0, 3)
	waitStatus(t, f, "central", "3 delivered", func(s forward.Status) bool { return s.Delivered == 3 })

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(context.Background(), "ROBAWS"); err != nil {
		t.Fatal(err)
	}
	ingest(t, db, 3, 2)
	waitStatus(t, f, "central", "5 delivered", func(s forward.Status) bool {
		if s.Status == "retrying" {
			f.Resume(context.Background(), "central") // skip the wait between attempts
		}
		return s.Delivered == 5 && s.Pending == 0
	})
	st, err := js.Stream(context.Background(), "ROBAWS")
	if err != nil {
		t.Fatalf("stream not created again: %v", err)
	}
	if info, _ := st.Info(context.Background()); info.State.Msgs != 2 {
		t.Fatalf("new stream holds %d messages, want the 2 sent after the delete", info.State.Msgs)
	}
}

// TestNATSErrorsRedacted: a credentials file that cannot be read and a
// URL's password are not shown in the destination's last error.
func TestNATSErrorsRedacted(t *testing.T) {
	db, _ := openDB(t)
	creds := filepath.Join(t.TempDir(), "central-secret-name.creds")
	d := forward.Destination{Name: "central", Kind: forward.KindNATS, URL: "nats://robaws:pw-secret-value@127.0.0.1:1",
		Stream: store.StreamEvents, Credentials: creds, Timeout: 200 * time.Millisecond}
	f, _ := run(t, db, nil, d)
	ingest(t, db, 0, 1)
	s := waitStatus(t, f, "central", "an error", func(s forward.Status) bool { return s.LastError != nil })
	shown := fmt.Sprintf("%+v %s", s, *s.LastError)
	for _, secret := range []string{"central-secret-name", "pw-secret-value"} {
		if strings.Contains(shown, secret) {
			t.Fatalf("%q shown: %s", secret, shown)
		}
	}
	if !strings.Contains(*s.LastError, "forward.central.credentials") {
		t.Fatalf("last error %q does not name the key", *s.LastError)
	}
}
