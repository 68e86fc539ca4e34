package app

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

// checkFraming refuses, with 400 and a closed connection, a request whose
// body framing two parties could read differently (request smuggling
// behind a proxy): Content-Length given twice with different values, or
// together with Transfer-Encoding (RFC 9112 §6.1, §6.3), and a request
// with more than one Host header (RFC 9112 §3.2). fasthttp keeps one value
// of each, so the check reads the header lines as received.
func checkFraming(c *fiber.Ctx) error {
	var contentLength []byte
	hosts, lengths, conflict, transferEncoding := 0, 0, false, false
	c.Request().Header.VisitAllInOrder(func(key, value []byte) {
		switch {
		case bytes.EqualFold(key, []byte(fiber.HeaderContentLength)):
			if lengths++; lengths == 1 {
				contentLength = bytes.Clone(value)
			} else if !bytes.Equal(value, contentLength) {
				conflict = true
			}
		case bytes.EqualFold(key, []byte(fiber.HeaderHost)):
			hosts++
		case bytes.EqualFold(key, []byte(fiber.HeaderTransferEncoding)):
			transferEncoding = true
		}
	})
	var msg string
	switch {
	case conflict:
		msg = "conflicting Content-Length headers"
	case lengths > 0 && transferEncoding:
		msg = "both Content-Length and Transfer-Encoding"
	case hosts > 1:
		msg = "more than one Host header"
	default:
		return c.Next()
	}
	// Where the body ends is unclear: nothing more is read from this
	// connection.
	c.Context().SetConnectionClose()
	return fiber.NewError(fiber.StatusBadRequest, msg)
}
