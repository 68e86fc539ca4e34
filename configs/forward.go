package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ForwardConfig is one destination of the forward section (SPEC §8): where
// what arrives is passed on, over HTTP or to NATS JetStream.
type ForwardConfig struct {
	// Kind is http or nats. Required.
	Kind string `yaml:"kind"`
	// URL is the http(s) target, or nats://host:4222 (comma-separated for
	// a cluster); not this daemon's own listener. Required. A secret (it
	// may hold credentials): a message shows it without userinfo or query.
	URL string `yaml:"url"`
	// Stream is events (every processed delivery, its raw body) or changes
	// (every customer change with the customer). Default events.
	Stream string `yaml:"stream"`
	// Events keeps only these events (events stream); empty keeps all.
	Events []string `yaml:"events"`
	// Secret signs HTTP requests (Standard Webhooks): whsec_<base64 of at
	// least 24 bytes>. Required for http.
	Secret string `yaml:"secret"`
	// Headers are extra HTTP request headers, not those robaws-edge sets
	// itself (reservedHeaders); their values are secrets. For http only.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one attempt. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// Subject is the NATS subject template. Default robaws.{endpoint}.{event}.
	Subject string `yaml:"subject"`
	// NATSStream is the JetStream stream, created when missing. Default ROBAWS.
	NATSStream string `yaml:"nats_stream"`
	// Credentials is a NATS .creds file (it must exist when set); Token a
	// NATS token. For nats only; default none. Secrets.
	Credentials string `yaml:"credentials"`
	Token       string `yaml:"token"`
	// Start is where a new destination starts: now or beginning. Default now.
	Start string `yaml:"start"`
	// AlertAfter: an undelivered item older than this is the health
	// problem forward_behind. Default 15m.
	AlertAfter Duration `yaml:"alert_after"`
	// IncludeTest forwards send-test's test data too.
	IncludeTest bool `yaml:"include_test"`
}

// withDefaults fills what the file left out.
func (f ForwardConfig) withDefaults() ForwardConfig {
	if f.Stream == "" {
		f.Stream = "events"
	}
	if f.Timeout == 0 {
		f.Timeout = Duration(10 * time.Second)
	}
	if f.Kind == "nats" {
		if f.Subject == "" {
			f.Subject = "robaws.{endpoint}.{event}"
		}
		if f.NATSStream == "" {
			f.NATSStream = "ROBAWS"
		}
	}
	if f.Start == "" {
		f.Start = "now"
	}
	if f.AlertAfter == 0 {
		f.AlertAfter = Duration(15 * time.Minute)
	}
	return f
}

// ForwardNames returns the destinations' names, sorted.
func (c *Config) ForwardNames() []string { return slices.Sorted(maps.Keys(c.Forward)) }

var (
	forwardNameRE = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
	// natsTokenRE is a literal subject token; natsStreamRE a stream name.
	natsTokenRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	natsStreamRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// reservedHeaders are set by robaws-edge on every request; the headers key
// cannot replace them. Lower case: a header name is matched without case.
var reservedHeaders = []string{"content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "robaws-event", "robaws-log-id", "host", "content-length"}

// validateForward checks the forward section: everything SPEC §8 refuses,
// each error naming its key and never a secret, a header value, a URL's
// userinfo or query string.
func (c *Config) validateForward() error {
	for _, name := range c.ForwardNames() {
		f := c.Forward[name]
		key := "forward." + name
		if !forwardNameRE.MatchString(name) {
			return keyErr(key, "destination names use a-z, 0-9 and -, at most 40 characters")
		}
		if err := c.validateDestination(key, f); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateDestination(key string, f ForwardConfig) error {
	switch f.Stream {
	case "events", "changes":
	default:
		return keyErr(key+".stream", "must be events or changes (got %q)", f.Stream)
	}
	switch f.Start {
	case "now", "beginning":
	default:
		return keyErr(key+".start", "must be now or beginning (got %q)", f.Start)
	}
	switch {
	case f.Timeout <= 0:
		return keyErr(key+".timeout", "must be a positive duration such as 10s")
	case f.AlertAfter <= 0:
		return keyErr(key+".alert_after", "must be a positive duration such as 15m")
	case f.Stream == "changes" && len(f.Events) > 0:
		return keyErr(key+".events", "only filters the events stream; the changes stream has every customer change")
	}
	for i, e := range f.Events {
		if strings.TrimSpace(e) == "" {
			return keyErr(fmt.Sprintf("%s.events[%d]", key, i), "is empty")
		}
	}
	switch f.Kind {
	case "http":
		return c.validateHTTPDestination(key, f)
	case "nats":
		return c.validateNATSDestination(key, f)
	}
	return keyErr(key+".kind", "must be http or nats (got %q)", f.Kind)
}

func (c *Config) validateHTTPDestination(key string, f ForwardConfig) error {
	u, err := url.Parse(f.URL)
	if f.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr(key+".url", "must be an http(s) URL such as http://127.0.0.1:9000/robaws (got %s)", redactURL(f.URL))
	}
	if err := c.notOwnListener(key+".url", u.Hostname(), u.Port(), map[string]string{"http": "80", "https": "443"}[u.Scheme]); err != nil {
		return err
	}
	if err := checkWebhookSecret(f.Secret); err != nil {
		return keyErr(key+".secret", "%v", err)
	}
	for _, h := range slices.Sorted(maps.Keys(f.Headers)) {
		switch {
		case !headerNameRE.MatchString(h):
			return keyErr(key+".headers", "%q is not a header name", h)
		case slices.Contains(reservedHeaders, strings.ToLower(h)): // h is ASCII (headerNameRE)
			return keyErr(key+".headers."+h, "is set by robaws-edge on every request and cannot be replaced")
		case strings.ContainsAny(f.Headers[h], "\r\n"):
			return keyErr(key+".headers."+h, "holds a line break")
		}
	}
	if f.Credentials != "" || f.Token != "" {
		return keyErr(key+".credentials", "credentials and token are for kind nats; an http target takes headers")
	}
	return nil
}

func (c *Config) validateNATSDestination(key string, f ForwardConfig) error {
	if f.URL == "" {
		return keyErr(key+".url", "required: nats://host:4222 (comma-separated for a cluster)")
	}
	for part := range strings.SplitSeq(f.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return keyErr(key+".url", "must be nats://host:4222, comma-separated for a cluster (got %s)", redactURL(strings.TrimSpace(part)))
		}
		if err := c.notOwnListener(key+".url", u.Hostname(), u.Port(), "4222"); err != nil {
			return err
		}
	}
	if err := checkNATSSubject(f.Subject); err != nil {
		return &KeyError{Key: key + ".subject", Err: err}
	}
	if !natsStreamRE.MatchString(f.NATSStream) {
		return keyErr(key+".nats_stream", "must be a stream name of letters, digits, - and _ (got %q)", f.NATSStream)
	}
	if f.Credentials != "" {
		if _, err := os.Stat(f.Credentials); err != nil {
			return keyErr(key+".credentials", "cannot read the credentials file: %v", errors.Unwrap(err))
		}
	}
	if f.Secret != "" || len(f.Headers) > 0 {
		return keyErr(key+".secret", "secret and headers are for kind http; a nats destination takes credentials or token")
	}
	return nil
}

// checkNATSSubject checks a subject template: a literal first token, then
// tokens with no wildcards, and no placeholders but {endpoint} and {event}.
func checkNATSSubject(subject string) error {
	first, _, _ := strings.Cut(subject, ".")
	if !natsTokenRE.MatchString(first) {
		return fmt.Errorf("must start with a literal token such as robaws (robaws.{endpoint}.{event}); got %q", subject)
	}
	for tok := range strings.SplitSeq(subject, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t*>") {
			return fmt.Errorf("is not a subject: tokens separated by dots, no spaces, * or > (got %q)", subject)
		}
		rest := strings.NewReplacer("{endpoint}", "", "{event}", "").Replace(tok)
		if strings.ContainsAny(rest, "{}") {
			return fmt.Errorf("knows only {endpoint} and {event} (got %q)", subject)
		}
	}
	return nil
}

// checkWebhookSecret checks a Standard Webhooks secret without showing it.
func checkWebhookSecret(s string) error {
	if s == "" {
		return errors.New(`required for an http destination: a Standard Webhooks secret, e.g. "whsec_$(openssl rand -base64 32)"`)
	}
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return errors.New("must start with whsec_ (a Standard Webhooks secret, e.g. whsec_$(openssl rand -base64 32))")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return errors.New("the part after whsec_ must be base64")
	}
	if len(key) < 24 {
		return fmt.Errorf("the key after whsec_ must be at least 24 bytes (it has %d)", len(key))
	}
	return nil
}

// notOwnListener refuses a target that is this daemon's own admin.listen or
// receiver.listen: forwarding to itself would loop or fail.
func (c *Config) notOwnListener(key, host, port, defPort string) error {
	if port == "" {
		port = defPort
	}
	target := net.JoinHostPort(host, port)
	for _, l := range []struct{ name, addr string }{{"admin.listen", c.Admin.Listen}, {"receiver.listen", c.Receiver.Listen}} {
		if l.addr != "" && sameListener(l.addr, target) {
			return keyErr(key, "points at this daemon's own %s (%s): forward to another program", l.name, l.addr)
		}
	}
	return nil
}

// sameListener reports whether target (host:port) reaches the listener at
// listen: same port and same host, where loopback names are one host and a
// wildcard listener is reached through any of this machine's addresses.
func sameListener(listen, target string) bool {
	lh, th, ok := samePort(listen, target)
	if !ok {
		return false
	}
	loop := func(h string) bool {
		ip := net.ParseIP(h)
		return strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback()
	}
	switch {
	case strings.EqualFold(lh, th), loop(lh) && loop(th):
		return true
	case isWildcardHost(lh):
		return loop(th) || isLocalAddr(th)
	}
	return false
}

// isLocalAddr reports whether host is an address of this machine.
func isLocalAddr(host string) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		// This machine's addresses are unknown (some sandboxes hide them):
		// only loopback names count as this machine then. The check guards
		// against a forwarding loop; refusing every file here would be worse.
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// redactURL is u without userinfo and query string, for a message.
func redactURL(u string) string {
	if u == "" {
		return `""`
	}
	p, err := url.Parse(u)
	if err != nil {
		return "a value that is not a URL"
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment = nil, "", false, ""
	return fmt.Sprintf("%q", p.String())
}

// forwardSecrets are the values of the forward section no message shows.
func (c *Config) forwardSecrets() []string {
	var vs []string
	for _, f := range c.Forward {
		vs = append(vs, f.Secret, f.Token, f.Credentials)
		for _, v := range f.Headers {
			vs = append(vs, v)
		}
		for part := range strings.SplitSeq(f.URL, ",") {
			if u, err := url.Parse(strings.TrimSpace(part)); err == nil {
				if p, ok := u.User.Password(); ok {
					vs = append(vs, p)
				}
				vs = append(vs, u.RawQuery)
			}
		}
	}
	return vs
}
