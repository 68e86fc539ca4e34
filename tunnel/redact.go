package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redacted replaces the authtoken in errors and log lines.
const redacted = "[REDACTED]"

// minSecret is the shortest secret that redact hides. Real authtokens are
// about 49 characters; hiding a test token such as "x" would garble every
// line that holds the letter.
const minSecret = 8

// redact returns s with every occurrence of secret replaced.
func redact(s, secret string) string {
	if len(secret) < minSecret {
		return s
	}
	return strings.ReplaceAll(s, secret, redacted)
}

// redactHandler removes a secret from log records before they reach h. The
// SDK logs ngrok's auth errors verbatim ("failed to reconnect session"), and
// those quote the authtoken. Strings, errors and other values are checked by
// their text; a value whose text holds the secret is logged as redacted text.
type redactHandler struct {
	h      slog.Handler
	secret string
}

func (r redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return r.h.Enabled(ctx, l)
}

func (r redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, redact(rec.Message, r.secret), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = r.attr(a)
	}
	return redactHandler{h: r.h.WithAttrs(clean), secret: r.secret}
}

func (r redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h: r.h.WithGroup(name), secret: r.secret}
}

func (r redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redact(v.String(), r.secret))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = r.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		if s := fmt.Sprint(v.Any()); len(r.secret) >= minSecret && strings.Contains(s, r.secret) {
			return slog.String(a.Key, redact(s, r.secret))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
