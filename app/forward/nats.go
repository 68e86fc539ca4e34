package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/robaws-edge/robaws-edge/store"
)

// natsDuplicates is the duplicate window of a stream robaws-edge creates:
// longer than the longest wait between two attempts of an item (an hour),
// so a repeat after a crash is dropped by the server.
const natsDuplicates = 2 * time.Hour

// natsSender publishes items to a JetStream stream, each with
// Nats-Msg-Id = the item's id. It connects on the first send and keeps
// reconnecting in the background; a server that is down, or a stream that
// cannot be created, is an answer of the down kind, never a start failure.
type natsSender struct {
	d       Destination
	logger  *slog.Logger
	secrets []string

	mu     sync.Mutex
	nc     *nats.Conn
	js     jetstream.JetStream
	stream bool // the stream exists
}

func newNATSSender(d Destination, logger *slog.Logger) *natsSender {
	// What error texts must not show: the token and the URLs' passwords
	// (redact also shows the URLs without userinfo, and the credentials
	// file by its key).
	secrets := []string{d.Token}
	for _, raw := range strings.Split(d.URL, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			secrets = append(secrets, u.User.String())
			// A bare password short enough to be any word is left: the
			// URL it is in is shown without userinfo anyway.
			if pw, _ := u.User.Password(); len(pw) >= 4 {
				secrets = append(secrets, pw)
			}
		}
	}
	return &natsSender{d: d, logger: logger, secrets: secrets}
}

// conn returns the JetStream context, connecting first.
func (s *natsSender) conn() (jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.js != nil {
		return s.js, nil
	}
	opts := []nats.Option{
		nats.Name("robaws-edge"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		// Publish fails at once while disconnected instead of being
		// buffered and sent after our attempt gave up on it.
		nats.ReconnectBufSize(-1),
		nats.Timeout(s.d.Timeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.logger.Warn("nats disconnected", "error", s.redact(err.Error()))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.logger.Info("nats reconnected", "url", redactURL(nc.ConnectedUrl()))
		}),
	}
	if s.d.Credentials != "" {
		opts = append(opts, nats.UserCredentials(s.d.Credentials))
	}
	if s.d.Token != "" {
		opts = append(opts, nats.Token(s.d.Token))
	}
	nc, err := nats.Connect(s.d.URL, opts...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.nc, s.js = nc, js
	return js, nil
}

// ensureStream creates the stream when it is missing (SPEC §8: file
// storage, subjects "<first token of the template>.>", a duplicate window
// of 2 h); an existing stream is used as it is.
func (s *natsSender) ensureStream(ctx context.Context, js jetstream.JetStream) error {
	s.mu.Lock()
	ok := s.stream
	s.mu.Unlock()
	if ok {
		return nil
	}
	_, err := js.Stream(ctx, s.d.NATSStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		first, _, _ := strings.Cut(s.d.Subject, ".")
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: s.d.NATSStream, Subjects: []string{first + ".>"},
			Storage: jetstream.FileStorage, Duplicates: natsDuplicates,
		})
		if err == nil {
			s.logger.Info("nats stream created", "stream", s.d.NATSStream, "subjects", first+".>")
		}
	}
	if err != nil {
		return fmt.Errorf("stream %s cannot be found or created: %w", s.d.NATSStream, err)
	}
	s.mu.Lock()
	s.stream = true
	s.mu.Unlock()
	return nil
}

func (s *natsSender) send(ctx context.Context, it *store.ForwardItem) answer {
	ctx, cancel := context.WithTimeout(ctx, s.d.Timeout)
	defer cancel()
	js, err := s.conn()
	if err != nil {
		return answer{outcome: down, err: "cannot connect: " + s.redact(err.Error())}
	}
	if !js.Conn().IsConnected() {
		msg := "not connected to the NATS server " + RedactTarget(s.d.URL)
		if err := js.Conn().LastError(); err != nil {
			msg += ": " + s.redact(err.Error())
		}
		return answer{outcome: down, err: msg}
	}
	if err := s.ensureStream(ctx, js); err != nil {
		return answer{outcome: down, err: s.redact(err.Error())}
	}
	msg := nats.NewMsg(Subject(s.d.Subject, it.Endpoint, it.Event))
	msg.Data = it.Body
	msg.Header.Set("robaws-event", it.Event)
	if it.LogID != nil {
		msg.Header.Set("robaws-log-id", strconv.FormatUint(*it.LogID, 10))
	}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(it.ID))
	if err != nil {
		// The stream may be gone (deleted, or a server back with fresh
		// storage: "no response from stream"): look for it, and create it,
		// again on the next attempt.
		s.mu.Lock()
		s.stream = false
		s.mu.Unlock()
		return answer{outcome: down, err: s.redact(err.Error())}
	}
	excerpt := fmt.Sprintf("stored in stream %s as message %d", ack.Stream, ack.Sequence)
	if ack.Duplicate {
		excerpt = fmt.Sprintf("already in stream %s (duplicate id)", ack.Stream)
	}
	return answer{outcome: delivered, excerpt: excerpt}
}

// redact takes URLs' userinfo and the token out of a NATS error text.
func (s *natsSender) redact(msg string) string {
	if s.d.Credentials != "" {
		msg = strings.ReplaceAll(msg, s.d.Credentials, "the file of forward."+s.d.Name+".credentials")
	}
	for _, u := range strings.Split(s.d.URL, ",") {
		u = strings.TrimSpace(u)
		if u != "" {
			msg = strings.ReplaceAll(msg, u, redactURL(u))
		}
	}
	for _, sec := range s.secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "…")
		}
	}
	return msg
}

func (s *natsSender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
}

// Subject renders a subject template: {endpoint} ("sync" for a change from
// a sync) and {event} ("customer.changed" for a change). Characters a
// subject cannot hold (space, '*', '>') become '_'.
func Subject(template, endpoint, event string) string {
	clean := strings.NewReplacer(" ", "_", "\t", "_", "*", "_", ">", "_")
	return strings.NewReplacer("{endpoint}", clean.Replace(endpoint), "{event}", clean.Replace(event)).Replace(template)
}
