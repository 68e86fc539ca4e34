package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/forward"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/app/robaws"
	"github.com/robaws-edge/robaws-edge/store"
)

// errorResponse is every error answer: {"error": "…"}.
type errorResponse struct {
	Error string `json:"error"`
}

// errorHandler maps errors to HTTP in one place. Fiber errors keep their
// code with a lower-case message; a rejected delivery (intake's signature
// errors) is 401 with its reason; store, intake and robaws sentinels map to
// 404, 409, 400 and 503; anything else is logged and answered 500
// "internal error", so no internal text reaches a client.
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		code, msg := errorStatus(err)
		if errors.Is(err, store.ErrNotFound) {
			msg = notFound(c.Path())
		}
		if code == fiber.StatusInternalServerError {
			logger.Error("request failed", "method", c.Method(), "path", c.Path(), "error", err)
		}
		return c.Status(code).JSON(errorResponse{Error: msg})
	}
}

// badRequest is a 400 whose message names the bad parameter.
func badRequest(format string, args ...any) error {
	return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(format, args...))
}

func errorStatus(err error) (int, string) {
	var fe *fiber.Error
	switch {
	case errors.As(err, &fe):
		msg := fe.Message
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			msg = "request body too large"
		case fiber.StatusNotFound:
			msg = "not found"
		case fiber.StatusMethodNotAllowed:
			msg = "method not allowed"
		}
		return fe.Code, msg
	}
	if code, msg, ok := robawsStatus(err); ok {
		return code, msg
	}
	switch {
	case errors.Is(err, intake.ErrMissingSignature), errors.Is(err, intake.ErrMalformed),
		errors.Is(err, intake.ErrTimestamp), errors.Is(err, intake.ErrNoActiveSecret),
		errors.Is(err, intake.ErrBadSignature):
		// The reason is the whole text (SPEC §1.3); it names no MAC or secret.
		return fiber.StatusUnauthorized, err.Error()
	case errors.Is(err, forward.ErrUnknownDestination), errors.Is(err, forward.ErrUnknownItem):
		return fiber.StatusNotFound, err.Error()
	case errors.Is(err, forward.ErrNothingSelected), errors.Is(err, forward.ErrTooMany):
		return fiber.StatusBadRequest, err.Error()
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrUnavailable):
		return fiber.StatusServiceUnavailable, "storage unavailable"
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound, "not found"
	case errors.Is(err, store.ErrConflict), errors.Is(err, robaws.ErrSyncRunning):
		return fiber.StatusConflict, err.Error()
	case errors.Is(err, store.ErrUnknownEndpoint), errors.Is(err, store.ErrInvalidCursor):
		return fiber.StatusBadRequest, err.Error()
	}
	return fiber.StatusInternalServerError, "internal error"
}

// notFound names what a route did not find (SPEC §6: "not found" says what),
// from the path of the request: its id is the user's own input.
func notFound(path string) string {
	for _, r := range []struct{ prefix, what string }{
		{"/api/webhook-logs/", "log entry"},
		{"/api/customers/", "customer"},
		{"/api/webhooks/", "webhook secret"},
	} {
		if rest, ok := strings.CutPrefix(path, r.prefix); ok {
			id, _, _ := strings.Cut(rest, "/")
			if id, err := url.PathUnescape(id); err == nil && id != "" {
				return fmt.Sprintf("%s %q not found", r.what, id)
			}
		}
	}
	return "not found"
}

// robawsStatus maps the Robaws errors for the error handler.
func robawsStatus(err error) (int, string, bool) {
	var re *robaws.Error
	switch {
	case errors.As(err, &re):
		return fiber.StatusBadGateway, re.Error(), true
	case errors.Is(err, robaws.ErrUnreachable) && !errors.Is(err, context.Canceled):
		return fiber.StatusBadGateway, err.Error(), true
	case errors.Is(err, robaws.ErrNoCredentials):
		return fiber.StatusConflict, robaws.ErrNoCredentials.Error(), true
	case errors.Is(err, robaws.ErrInvalidURL):
		return fiber.StatusBadRequest, "invalid url: " + robaws.ErrInvalidURL.Error(), true
	}
	return 0, "", false
}
