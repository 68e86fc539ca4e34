package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// This file holds what every handler of the local API stands on: the
// handler type, the strict reading of a request's query, path and body, and
// the writing of a page. Each api_<noun>.go file holds the handlers of one
// noun (SPEC §4) with the plain functions they call, which the console's
// pages call too.

// handler serves the local API; each method reads the request, calls a
// plain function and writes the answer.
type handler struct {
	db     *store.DB
	recv   *intake.Receiver
	cfg    LocalConfig
	logger *slog.Logger
	// hosts, throttle and hub are shared by the API and the console.
	hosts    hostGuard
	throttle *authThrottle
	hub      *streamHub
}

// params are a request's query parameters, parsed strictly: a parameter the
// route does not take, or one given twice, is a 400 that names it.
type params map[string]string

// queryParams returns c's query parameters, all of which must be in allowed.
func queryParams(c *fiber.Ctx, allowed ...string) (params, error) {
	p := params{}
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		key := string(k)
		switch {
		case !slices.Contains(allowed, key):
			err = badRequest("unknown parameter %q", key)
		case p.has(key):
			err = badRequest("invalid %s: given more than once", key)
		default:
			p[key] = string(v)
		}
	})
	return p, err
}

func (p params) has(name string) bool { _, ok := p[name]; return ok }

// limit returns the page size: default 50, 1 to store.MaxLimit.
func (p params) limit() (int, error) {
	s, ok := p["limit"]
	if !ok {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > store.MaxLimit {
		return 0, badRequest("invalid limit: must be between 1 and %d", store.MaxLimit)
	}
	return n, nil
}

// time parses an RFC 3339 parameter; zero when absent.
func (p params) time(name string) (time.Time, error) {
	s, ok := p[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("invalid %s: want RFC 3339, such as 2026-11-30T08:00:00Z", name)
	}
	return t, nil
}

// bool parses true/false; nil when absent.
func (p params) bool(name string) (*bool, error) {
	s, ok := p[name]
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, badRequest("invalid %s: want true or false", name)
	}
	return &b, nil
}

// flag returns a boolean parameter, false when absent.
func (p params) flag(name string) (bool, error) {
	b, err := p.bool(name)
	return b != nil && *b, err
}

// oneOf returns the parameter when it is one of values ("" when absent).
func (p params) oneOf(name string, values ...string) (string, error) {
	s, ok := p[name]
	if !ok {
		return "", nil
	}
	if !slices.Contains(values, s) {
		return "", badRequest("invalid %s: want %s", name, orList(values))
	}
	return s, nil
}

// orList renders values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// pathParam returns the unescaped path parameter name.
func pathParam(c *fiber.Ctx, name string) (string, error) {
	s, err := url.PathUnescape(c.Params(name))
	if err != nil || s == "" {
		return "", badRequest("invalid %s", name)
	}
	return s, nil
}

// logID parses the {id} of a log entry.
func logID(c *fiber.Ctx) (uint64, error) {
	n, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil || n == 0 {
		return 0, badRequest("invalid id: want a log entry number")
	}
	return n, nil
}

// decodeBody decodes c's JSON body into v strictly: unknown fields and
// trailing data are a 400 naming the problem.
func decodeBody(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("invalid body: want a JSON object")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("invalid %s: want a %s", te.Field, te.Type.String())
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("unknown field %s", f)
		}
		return badRequest("invalid body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("invalid body: more than one JSON value")
	}
	return nil
}

// findPage answers a list's route with one page of what find finds for f:
// [] for none, next_cursor null at the end.
func findPage[F, T any](c *fiber.Ctx, f F, find func(context.Context, F) ([]T, string, error)) error {
	items, next, err := find(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(Page[T]{Items: nonNil(items), NextCursor: pageCursor(next)})
}

// pageCursor renders a store cursor as next_cursor: null at the end.
func pageCursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
