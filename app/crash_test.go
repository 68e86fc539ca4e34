package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

const crashChildEnv = "ROBAWS_EDGE_CRASH_CHILD_DB"

// TestMain turns this test binary into the crash test's child process when
// crashChildEnv is set.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
	}
	os.Exit(m.Run())
}

// crashChild serves the receiver over the database at path and prints its
// address; it never returns (the parent kills it).
func crashChild(path string) {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Println("OPEN-ERROR", err)
		os.Exit(3)
	}
	if err := db.Check(); err != nil {
		fmt.Println("CHECK-ERROR", err)
		os.Exit(3)
	}
	r, err := intake.NewReceiver(db, intake.Config{Endpoints: testEndpoints()})
	if err != nil {
		fmt.Println("RECEIVER-ERROR", err)
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("LISTEN-ERROR", err)
		os.Exit(3)
	}
	fmt.Println("LISTENING", ln.Addr().String())
	app.NewPublic(r, app.PublicConfig{}).Listener(ln)
	select {}
}

// startCrashChild runs this test binary as a receiver over path and returns
// it with its address.
func startCrashChild(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "LISTENING ") || strings.Contains(l, "ERROR") {
				lines <- l
				return
			}
		}
		lines <- "EOF"
	}()
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, "LISTENING ")
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start: %s", l)
		}
		return cmd, "http://" + addr
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not start within 20s")
	}
	return nil, ""
}

// TestCrashRecovery kills a serving child with SIGKILL mid-stream, five
// times. After each restart every delivery that had received a 2xx must
// answer duplicate with its original log id, and the file must open and pass
// bbolt's check.
func TestCrashRecovery(t *testing.T) {
	path := t.TempDir() + "/crash.db"
	acked := map[string]uint64{} // event id -> log id
	bodies := map[string][]byte{}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	post := func(base string, body []byte) (answer, error) {
		resp, err := client.Do(signedRequest(base, body))
		if err != nil {
			return answer{}, err
		}
		return decodeAnswer(t, resp), nil
	}
	const rounds = 5
	for round := range rounds + 1 {
		cmd, base := startCrashChild(t, path)
		// Everything acknowledged before the last kill must still be there.
		for id, logID := range acked {
			a, err := post(base, bodies[id])
			if err != nil {
				t.Fatalf("round %d: resend %s: %v", round, id, err)
			}
			if a.Code != 200 || a.Status != "duplicate" || a.LogID != logID {
				t.Fatalf("round %d: acknowledged %s (log %d) answered %+v after SIGKILL, want duplicate", round, id, logID, a)
			}
		}
		if round == rounds {
			cmd.Process.Kill()
			cmd.Wait()
			break
		}
		var mu sync.Mutex
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for s := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil && n < 5000; n++ {
					id := fmt.Sprintf("r%d-s%d-n%d", round, s, n)
					body := delivery(id, "client.updated", fmt.Sprint("C", (s*7919+n)%500), "Customer "+id, "")
					a, err := post(base, body)
					if err != nil {
						return // the child is gone
					}
					if a.Code/100 == 2 {
						mu.Lock()
						acked[id], bodies[id] = a.LogID, body
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+round*70) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stop()
		wg.Wait()
		client.CloseIdleConnections()
		t.Logf("round %d: %d deliveries acknowledged so far", round, len(acked))
	}
	if len(acked) < rounds*10 {
		t.Fatalf("only %d deliveries acknowledged over %d rounds; the test did not exercise the store", len(acked), rounds)
	}
	db := MustOpenDB(t, path)
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
