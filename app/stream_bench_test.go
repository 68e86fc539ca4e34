//go:build unix

package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/intake"
)

// BenchmarkIntakeFollowers measures the intake (32 senders, 5,000
// deliveries) with no log stream open, then with ROBAWS_EDGE_FOLLOWERS
// (default 2,000) followers reading /api/webhook-logs/stream, all on
// loopback in this process. Run it by hand:
//
//	go test -run '^$' -bench BenchmarkIntakeFollowers -benchtime 1x ./app/
func BenchmarkIntakeFollowers(b *testing.B) {
	const senders, perPhase = 32, 5000
	followers := 2000
	if s := os.Getenv("ROBAWS_EDGE_FOLLOWERS"); s != "" {
		followers, _ = strconv.Atoi(s)
	}
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		db := MustOpenDB(b, "")
		r := MustReceiver(b, db, time.Time{}, nil)
		intakeURL := serve(b, app.NewPublic(r, app.PublicConfig{})) + customersPath
		local := strings.TrimPrefix(serve(b, app.NewLocal(db, r, app.LocalConfig{MaxFollowers: followers})), "http://")
		phase := func(name string) [][2][]byte {
			now := time.Now()
			reqs := make([][2][]byte, perPhase)
			for i := range reqs {
				body := clientBody(fmt.Sprintf("bench-%s-%d-%d-%d", name, now.UnixNano(), iter, i), "client.updated",
					map[string]any{"id": strconv.Itoa(i % 500), "name": fmt.Sprint("Customer ", i), "updatedAt": now.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano)})
				reqs[i] = [2][]byte{body, []byte(intake.Sign(testSecret, now.Unix(), body))}
			}
			return reqs
		}
		runLoad(b, intakeURL, phase("warm")[:senders*4], senders)
		b.StartTimer()
		cpu0 := cpuTime()
		base := runLoad(b, intakeURL, phase("base"), senders)
		baseCPU := cpuTime() - cpu0
		b.StopTimer()

		var conns []net.Conn
		var wg sync.WaitGroup
		var received atomic.Int64 // bytes the followers read
		for i := range followers {
			conn, err := net.Dial("tcp", local)
			if err != nil {
				b.Fatalf("follower %d: %v", i, err)
			}
			conns = append(conns, conn)
			io.WriteString(conn, "GET /api/webhook-logs/stream HTTP/1.1\r\nHost: "+local+"\r\n\r\n")
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					b.Fatalf("follower %d: %v", i, err)
				}
				if strings.HasPrefix(line, ": robaws-edge log stream") {
					break
				}
				if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 200") {
					b.Fatalf("follower %d: %s", i, line)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, _ := io.Copy(io.Discard, br)
				received.Add(n)
			}()
		}
		b.StartTimer()
		cpu0 = cpuTime()
		with := runLoad(b, intakeURL, phase("followed"), senders)
		withCPU := cpuTime() - cpu0
		b.StopTimer()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		// The process's CPU time per delivery (senders, followers' readers
		// and the daemon together) says what the followers cost however
		// busy the machine is; latency alone moves with other loads.
		b.Logf("no follower:     %.0f req/s  p50 %v  p99 %v  CPU %v a delivery", base.rps, base.p50, base.p99, baseCPU/perPhase)
		b.Logf("%d followers: %.0f req/s  p50 %v  p99 %v  CPU %v a delivery; they read %.1f MiB", followers, with.rps, with.p50, with.p99, withCPU/perPhase, float64(received.Load())/(1<<20))
		b.ReportMetric(float64(base.p99.Microseconds())/1000, "base-p99-ms")
		b.ReportMetric(float64(with.p99.Microseconds())/1000, "followed-p99-ms")
		b.StartTimer()
	}
}

// cpuTime is the CPU time this process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
