// Package tunneltest runs a fake ngrok edge on loopback, so that tests can
// open a real tunnel.Listen endpoint, send it public requests, cut the agent's
// connection and refuse its authtoken, all offline.
//
// The fake speaks the agent protocol of golang.ngrok.com/ngrok/v2 v2.4.0: TLS,
// then a muxado session whose typed streams carry JSON messages (Auth 0,
// Bind 1, Unbind 2, and Proxy 3 from edge to agent, which starts with an
// int64 little-endian length and a JSON ProxyHeader). Those shapes are copied
// from the SDK's internal/tunnel/proto and are not a public contract: expect
// to fix this file when ngrok-go is upgraded.
package tunneltest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.ngrok.com/muxado/v2"
)

// Stream types from ngrok-go v2.4.0 internal/tunnel/proto/msg.go.
const (
	authReq   muxado.StreamType = 0
	bindReq   muxado.StreamType = 1
	unbindReq muxado.StreamType = 2
	proxyReq  muxado.StreamType = 3
)

// refusedAuth is ngrok's answer to a malformed authtoken. Like the real one,
// it quotes the token, so tests can check that it is redacted.
const refusedAuth = "The authtoken you specified does not look like a proper ngrok tunnel authtoken.\n" +
	"Your authtoken: %s\nInstructions to install your authtoken are on your ngrok dashboard:\n" +
	"https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_105\r\n"

// Edge is a fake ngrok edge listening on 127.0.0.1.
type Edge struct {
	ln     net.Listener
	caFile string
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	refuse  bool
	conns   map[net.Conn]bool
	bound   *binding // the endpoint bound last, used by Do
	nbind   int
	nunbind int
	hold    chan struct{} // non-nil: Unbind answers wait until it is closed
	nheld   int           // Unbind requests waiting on hold
}

type binding struct {
	id   string
	sess muxado.TypedStreamSession
}

// NewEdge starts an Edge with a self-signed certificate for "localhost",
// 127.0.0.1 and ::1, written to a file in tb.TempDir(). tb.Cleanup stops it.
func NewEdge(tb testing.TB) *Edge {
	tb.Helper()
	cert, certPEM, err := selfSigned()
	if err != nil {
		tb.Fatalf("tunneltest: certificate: %v", err)
	}
	caFile := filepath.Join(tb.TempDir(), "edge-ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		tb.Fatalf("tunneltest: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		tb.Fatalf("tunneltest: listen: %v", err)
	}
	e := &Edge{ln: ln, caFile: caFile, conns: make(map[net.Conn]bool)}
	e.wg.Add(1)
	go e.serve()
	tb.Cleanup(e.close)
	return e
}

// ConnectURL returns the edge's host:port, for tunnel.Config.ConnectURL.
func (e *Edge) ConnectURL() string { return e.ln.Addr().String() }

// CAFile returns the path of a PEM file with the edge's certificate, for
// tunnel.Config.ConnectCAFile.
func (e *Edge) CAFile() string { return e.caFile }

// URL returns the public URL the edge hands out when the agent asks for none.
func (e *Edge) URL() string { return "https://fake-edge.example" }

// SetRefuseAuth makes the edge refuse (true) or accept (false) every Auth
// request, with ngrok's ERR_NGROK_105 message, which quotes the token.
func (e *Edge) SetRefuseAuth(refuse bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refuse = refuse
}

// Binds returns how many Bind requests the edge has answered, re-binds after
// a reconnect included.
func (e *Edge) Binds() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nbind
}

// Unbinds returns how many Unbind requests the edge has answered.
func (e *Edge) Unbinds() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nunbind
}

// DropSessions cuts every agent connection, as a network loss would.
func (e *Edge) DropSessions() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
	e.bound = nil
}

// HoldUnbinds makes the edge hold its answers to Unbind requests until
// ReleaseUnbinds, so that a test can act while an agent's Unbind is in flight.
// UnbindsHeld counts the requests waiting.
func (e *Edge) HoldUnbinds() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hold == nil {
		e.hold = make(chan struct{})
	}
}

// ReleaseUnbinds answers the held Unbind requests and stops holding new ones.
// The edge's cleanup calls it too.
func (e *Edge) ReleaseUnbinds() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hold != nil {
		close(e.hold)
		e.hold = nil
	}
}

// UnbindsHeld returns how many Unbind requests wait for ReleaseUnbinds.
func (e *Edge) UnbindsHeld() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nheld
}

// Do delivers req as a public request to the endpoint bound last and returns
// the response with its body read. clientAddr is the public client's address
// ("203.0.113.7" or "203.0.113.7:51000"); the agent reports it as the
// connection's RemoteAddr. Do sets X-Forwarded-For and X-Forwarded-Proto as
// ngrok does. It fails if no endpoint is bound, or after 10s, or at req's
// context deadline.
func (e *Edge) Do(req *http.Request, clientAddr string) (*http.Response, error) {
	e.mu.Lock()
	b := e.bound
	e.mu.Unlock()
	if b == nil {
		return nil, errors.New("tunneltest: no endpoint bound")
	}
	host, _, err := net.SplitHostPort(clientAddr)
	if err != nil {
		host, clientAddr = clientAddr, net.JoinHostPort(clientAddr, "51000")
	}
	st, err := b.sess.OpenTypedStream(proxyReq)
	if err != nil {
		return nil, fmt.Errorf("tunneltest: open proxy stream: %w", err)
	}
	defer st.Close()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := req.Context().Deadline(); ok {
		deadline = d
	}
	_ = st.SetReadDeadline(deadline)

	hdr, err := json.Marshal(proxyHeader{ID: b.id, ClientAddr: clientAddr, Proto: "https"})
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", host)
	req.Header.Set("X-Forwarded-Proto", "https")
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, int64(len(hdr)))
	buf.Write(hdr)
	if err := req.Write(&buf); err != nil {
		return nil, fmt.Errorf("tunneltest: write request: %w", err)
	}
	if _, err := st.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("tunneltest: write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(st), req)
	if err != nil {
		return nil, fmt.Errorf("tunneltest: read response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("tunneltest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (e *Edge) serve() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = true
		e.wg.Add(1)
		e.mu.Unlock()
		go e.session(c)
	}
}

// session serves one agent connection. The heartbeat wrapper answers the
// agent's heartbeats; it is never started, so the edge sends none.
func (e *Edge) session(c net.Conn) {
	defer e.wg.Done()
	mux := muxado.NewHeartbeat(muxado.NewTypedStreamSession(muxado.Server(c, nil)), func(time.Duration, bool) {}, nil)
	defer func() {
		mux.Close()
		e.mu.Lock()
		delete(e.conns, c)
		if e.bound != nil && e.bound.sess == mux {
			e.bound = nil
		}
		e.mu.Unlock()
	}()
	for {
		st, err := mux.AcceptTypedStream()
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer st.Close()
			e.answer(mux, st)
		}()
	}
}

// answer reads one JSON request from st and writes the JSON response.
func (e *Edge) answer(mux muxado.TypedStreamSession, st muxado.TypedStream) {
	var req struct {
		ID    string `json:"Id"`
		Proto string
		Opts  json.RawMessage
		Extra struct{ Authtoken string }
	}
	if err := json.NewDecoder(st).Decode(&req); err != nil {
		return
	}
	var resp any
	e.mu.Lock()
	switch st.StreamType() {
	case authReq:
		if e.refuse {
			resp = authResp{Error: fmt.Sprintf(refusedAuth, req.Extra.Authtoken)}
		} else {
			resp = authResp{Version: "3", ClientID: "fake-client", Extra: authRespExtra{Version: "tunneltest", Region: "local", AgentSessionID: "fake-session"}}
		}
	case bindReq:
		e.nbind++
		id := req.ID // the agent sends its old id when it re-binds after a reconnect
		if id == "" {
			id = fmt.Sprintf("fake-bind-%d", e.nbind)
		}
		var opts struct{ URL string }
		_ = json.Unmarshal(req.Opts, &opts)
		url := e.URL()
		if opts.URL != "" {
			url = opts.URL
			if !strings.Contains(url, "://") {
				url = "https://" + url
			}
		}
		e.bound = &binding{id: id, sess: mux}
		resp = bindResp{ID: id, URL: url, Proto: req.Proto, Opts: req.Opts, Extra: bindRespExtra{Token: "fake-bind-token", TunnelID: "tn_fake"}}
	case unbindReq:
		if hold := e.hold; hold != nil {
			e.nheld++
			e.mu.Unlock()
			<-hold
			e.mu.Lock()
			e.nheld--
		}
		e.nunbind++
		if e.bound != nil && e.bound.id == req.ID {
			e.bound = nil
		}
		resp = struct{ Error string }{}
	default: // e.g. SrvInfo (8); every JSON answer has an Error field
		resp = struct{ Error, Region string }{Region: "local"}
	}
	e.mu.Unlock()
	_ = json.NewEncoder(st).Encode(resp)
}

func (e *Edge) close() {
	e.ReleaseUnbinds()
	e.ln.Close()
	e.mu.Lock()
	e.closed = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Wire messages, from ngrok-go v2.4.0 internal/tunnel/proto/msg.go.
type (
	authResp struct {
		Version  string
		ClientID string `json:"ClientId"`
		Error    string
		Extra    authRespExtra
	}
	authRespExtra struct{ Version, Region, AgentSessionID string }
	bindResp      struct {
		ID    string `json:"Id"`
		URL   string
		Proto string
		Opts  json.RawMessage
		Error string
		Extra bindRespExtra
	}
	bindRespExtra struct{ Token, TunnelID string }
	proxyHeader   struct {
		ID         string `json:"Id"`
		ClientAddr string
		Proto      string
	}
)

// selfSigned makes a certificate for localhost that is its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
