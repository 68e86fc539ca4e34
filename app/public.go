package app

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/valyala/fasthttp"
)

// maxDrainBytes is how much of a too-large body is read past the limit and
// discarded so that the sender, still writing, finishes and reads the 413
// instead of a connection reset. A body that would need more is answered at
// once and its connection closed (the sender may then see a reset).
const maxDrainBytes = 4 << 20

// bodyTimeout bounds reading a request's body, counted from the end of its
// headers.
const bodyTimeout = 10 * time.Second

// NewPublic returns the public receiver app: one route per configured
// endpoint and nothing else (no admin, no health route), so it is safe to
// serve on the tunnel.
//
// Bodies are streamed (SPEC §1.2): fasthttp reads at most 8 KiB of a body
// before the handler runs, whatever Content-Length announces, and the
// handler reads the rest into a buffer that grows only as bytes arrive, up
// to MaxBodyBytes. A connection must send its request line and headers
// within HeaderTimeout and then its body within bodyTimeout, so a slow or
// silent sender holds a connection for at most that long; between requests
// a keep-alive connection may wait 60s, but counts as idle (ConnLimiter).
//
// Requests whose framing is ambiguous get 400 and a closed connection
// (checkFraming).
func NewPublic(r *intake.Receiver, cfg PublicConfig) *fiber.App {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := fiber.New(fiber.Config{
		// Immutable makes every value read from the request a copy, so a
		// value handed to the store can never be overwritten by the next
		// request on the same connection (the body is copied by readBody).
		Immutable: true,
		// With StreamRequestBody fasthttp does not allocate the announced
		// Content-Length and never answers 413 itself: readBody does.
		StreamRequestBody: true,
		BodyLimit:         cfg.MaxBodyBytes,
		// fasthttp sets ReadTimeout before reading a request's headers;
		// HeaderReceived below sets the body's deadline once they are in.
		ReadTimeout:           cfg.HeaderTimeout,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(cfg.Logger),
		// Only the configured paths exactly: no case folding, no trailing
		// slash variants (SPEC §1: unknown paths 404).
		StrictRouting: true,
		CaseSensitive: true,
	})
	f.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
	}
	f.Server().ConnState = connState
	f.Use(recover.New(), checkFraming)
	h := &publicHandler{recv: r, maxBody: cfg.MaxBodyBytes}
	for _, ep := range r.Endpoints() {
		f.All(ep.Path, h.handleWebhook(ep))
	}
	f.Use(func(c *fiber.Ctx) error {
		discardBody(c, maxDrainBytes)
		return fiber.ErrNotFound
	})
	return f
}

type publicHandler struct {
	recv    *intake.Receiver
	maxBody int
}

// handleWebhook answers one delivery to ep (SPEC §1): 200 with the
// outcome, or the error map's 401 (rejected) or 503 (storage unavailable).
func (h *publicHandler) handleWebhook(ep *intake.Endpoint) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodPost {
			discardBody(c, maxDrainBytes)
			c.Set(fiber.HeaderAllow, fiber.MethodPost)
			return fiber.ErrMethodNotAllowed
		}
		// The request's one clock reading, taken before the body is read so
		// that durations count from receipt.
		received := h.recv.Now()
		body, err := readBody(c, h.maxBody)
		if err != nil {
			return err
		}
		// Read whole: no longer a trickle that may be cut for room.
		markServing(c.Context().Conn())
		o, err := h.recv.Receive(c.UserContext(), intake.Incoming{
			Endpoint:        ep,
			Body:            body,
			SignatureHeader: c.Get("Robaws-Signature"),
			RemoteAddr:      c.IP(),
			ReceivedAt:      received,
		})
		if err != nil {
			return err
		}
		return c.JSON(o)
	}
}

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody returns a copy of the request body as received on the wire
// (de-chunked, never decoded), read from the body stream up to max bytes.
// Over max it drains what it may (maxDrainBytes) so the sender reads the
// answer, closes the connection after the answer and returns 413. A read
// error (the read timeout, a sender gone) closes the connection too.
func readBody(c *fiber.Ctx, max int) ([]byte, error) {
	rc := c.Context()
	// ContentLength is -1 for a chunked body; over max is known now.
	if cl := rc.Request.Header.ContentLength(); cl > max {
		rc.SetConnectionClose()
		if cl-max <= maxDrainBytes {
			discardBody(c, int64(cl))
		}
		return nil, fiber.ErrRequestEntityTooLarge
	}
	stream := rc.RequestBodyStream()
	if stream == nil {
		return []byte{}, nil
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer bodyBuffers.Put(buf)
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(stream, int64(max)+1))
	switch {
	case err != nil:
		rc.SetConnectionClose()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fiber.NewError(fiber.StatusRequestTimeout, "request body not received in time")
		}
		return nil, fiber.NewError(fiber.StatusBadRequest, "request body could not be read")
	case n > int64(max):
		rc.SetConnectionClose()
		discardBody(c, maxDrainBytes)
		return nil, fiber.ErrRequestEntityTooLarge
	}
	return bytes.Clone(buf.Bytes()), nil
}

// discardBody reads and drops what is left of the request body, at most
// limit bytes. When the body's end was not reached, the connection is
// closed after the answer: the rest must not be read as the next request.
func discardBody(c *fiber.Ctx, limit int64) {
	rc := c.Context()
	stream := rc.RequestBodyStream()
	if stream == nil {
		if rc.Request.Header.ContentLength() != 0 && rc.Request.Header.ContentLength() != -2 {
			rc.SetConnectionClose()
		}
		return
	}
	_, err := io.CopyN(io.Discard, stream, limit)
	if err == nil {
		// limit bytes read: the body may or may not end here.
		var b [1]byte
		_, err = stream.Read(b[:])
	}
	if err != io.EOF {
		rc.SetConnectionClose()
	}
}
