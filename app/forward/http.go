package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// excerptBytes is how much of a target's answer an attempt keeps.
const excerptBytes = 2 << 10

// httpSender posts items to one URL, signed the Standard Webhooks way
// (https://www.standardwebhooks.com): webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
type httpSender struct {
	url       string
	key       []byte
	headers   map[string]string
	userAgent string
	client    *http.Client
	now       func() time.Time
}

// ParseSecret returns the key of a Standard Webhooks secret:
// "whsec_<base64 of at least 24 bytes>".
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("must start with whsec_ (a Standard Webhooks secret, e.g. whsec_$(openssl rand -base64 32))")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not base64")
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("the key after whsec_ has %d bytes, want at least 24", len(key))
	}
	return key, nil
}

func newHTTPSender(d Destination, version string, now func() time.Time) (*httpSender, error) {
	key, err := ParseSecret(d.Secret)
	if err != nil {
		return nil, fmt.Errorf("forward.%s.secret: %w", d.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	return &httpSender{url: d.URL, key: key, headers: d.Headers, userAgent: "robaws-edge/" + version, now: now,
		client: &http.Client{
			Transport: tr,
			Timeout:   d.Timeout,
			// A redirect is an answer of its own (misconfigured): the
			// signed body goes to the configured URL only.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}, nil
}

// sign returns the webhook-signature value for id, ts and body.
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *httpSender) send(ctx context.Context, it *store.ForwardItem) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(it.Body))
	if err != nil {
		return answer{outcome: misconfigured, err: "bad request: " + redactErr(err, s.url)}
	}
	ts := s.now().Unix()
	h := req.Header
	for k, v := range s.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.userAgent)
	h.Set("webhook-id", it.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	sig := sign(s.key, it.ID, ts, it.Body)
	h.Set("webhook-signature", sig)
	h.Set("robaws-event", it.Event)
	if it.LogID != nil {
		h.Set("robaws-log-id", strconv.FormatUint(*it.LogID, 10))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{outcome: down, err: redactErr(err, s.url)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	// Read on a little, so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a := answer{outcome: classify(resp.StatusCode), code: resp.StatusCode,
		excerpt: s.redact(strings.ToValidUTF8(string(excerpt), "\uFFFD"), sig), retryAfter: retryAfter(resp.Header.Get("Retry-After"), s.now())}
	if a.outcome != delivered {
		a.err = statusError(resp.StatusCode, resp.Header.Get("Location"))
	}
	return a
}

// redact removes from a target's answer what we sent it that is secret:
// a target that echoes its request (a debugging endpoint does) must not
// put our header values, the signature or the URL's userinfo and query
// on the Forwarding page.
func (s *httpSender) redact(excerpt, sig string) string {
	secrets := []string{sig, strings.TrimPrefix(sig, "v1,")}
	for _, v := range s.headers {
		secrets = append(secrets, v)
	}
	if p, err := url.Parse(s.url); err == nil {
		if p.User != nil {
			// Go's client sends the userinfo as a Basic Authorization
			// header: an echo shows it base64-encoded.
			pw, _ := p.User.Password()
			basic := base64.StdEncoding.EncodeToString([]byte(p.User.Username() + ":" + pw))
			secrets = append(secrets, basic, p.User.String(), pw)
		}
		secrets = append(secrets, p.RawQuery)
	}
	for _, v := range secrets {
		if len(v) >= 4 {
			excerpt = strings.ReplaceAll(excerpt, v, "[redacted]")
		}
	}
	return excerpt
}

// redactErr describes a transport error without the URL (its userinfo or
// query string could carry a secret): the inner error of a *url.Error,
// timeouts said plainly.
func redactErr(err error, rawURL string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time (timeout)"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, redactURL(rawURL))
	}
	return msg
}

// redactURL is u without userinfo, query and fragment: what may be shown
// and logged of a target (SPEC §8).
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(an unparsable URL)"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// RedactTarget is a destination's URL as it may be shown: for a
// comma-separated NATS cluster, each URL redacted.
func RedactTarget(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}
