package tunnel_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/tunnel"
)

// TestOnline opens a real ngrok endpoint and sends it a request over the
// internet. It needs NGROK_AUTHTOKEN (and NGROK_URL for a reserved URL).
func TestOnline(t *testing.T) {
	authtoken := os.Getenv("NGROK_AUTHTOKEN")
	if authtoken == "" {
		t.Skip("NGROK_AUTHTOKEN not set: real ngrok smoke test needs the internet")
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tun, err := tunnel.Listen(ctx, tunnel.Config{
		Authtoken:     authtoken,
		URL:           os.Getenv("NGROK_URL"),
		ClientName:    "robaws-edge-test",
		ClientVersion: "0.0.0",
		Logger:        logs.logger(),
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	serve(t, tun, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the tunnel")
	}))
	t.Logf("public URL %s", tun.URL())

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tun.URL()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("ngrok-skip-browser-warning", "1") // no interstitial page on free plans
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", tun.URL(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "hello from the tunnel" {
		t.Errorf("GET: %d %q, want 200 %q", resp.StatusCode, body, "hello from the tunnel")
	}
}
