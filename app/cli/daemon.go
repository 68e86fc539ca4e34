package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/configs"
	"golang.org/x/term"
)

// The data commands of SPEC §6. Each reads the config for admin.listen and
// admin.token and talks to the running daemon through app.Client; none opens
// the database file, which the daemon holds locked.
//
// This file holds what every data command shares: reading the config for
// the daemon's address and token, turning API errors into CLI errors, and
// printing tables and JSON.

// apiTimeout bounds a quick API call; backups and bulk replays take ctx only.
const apiTimeout = 30 * time.Second

// daemonClient reads the config at path (as `run` does) and returns a
// client of the daemon's local API, and the address it talks to.
func daemonClient(path string) (*app.Client, string, error) {
	// Only admin.listen and admin.token (SPEC §6): a secret variable unset
	// in this shell must not stop status or logs.
	listen, token, err := configs.LoadAdmin(path)
	if err != nil {
		return nil, "", ConfigError(err)
	}
	return app.NewClient(listen, token), listen, nil
}

// ask makes one quick call to the daemon whose config is at configPath:
// the client, the deadline, and the error as apiError words it.
func ask[T any](ctx context.Context, configPath string, call func(context.Context, *app.Client) (T, error)) (T, error) {
	c, addr, err := daemonClient(configPath)
	if err != nil {
		var zero T
		return zero, err
	}
	return askClient(ctx, c, addr, call)
}

// askClient is ask for a command that goes on with the client after the
// call.
func askClient[T any](ctx context.Context, c *app.Client, addr string, call func(context.Context, *app.Client) (T, error)) (T, error) {
	qctx, cancel := quick(ctx)
	defer cancel()
	v, err := call(qctx, c)
	return v, apiError(err, addr)
}

// apiError turns a client error into what the user should read: how to
// start a daemon that does not answer, a token hint for 401, and a usage
// error (exit 2) for a bad parameter.
func apiError(err error, addr string) error {
	var ae *app.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, app.ErrNotAnswering):
		return fmt.Errorf("robaws-edge is not running (no answer on %s): start it with `robaws-edge run` or `robaws-edge start`", addr)
	case errors.As(err, &ae) && ae.Code == 401:
		return fmt.Errorf("the daemon on %s refused the request (%s): check admin.token in the config", addr, ae.Message)
	case errors.As(err, &ae) && ae.Code == 400:
		return usageError("%s", ae.Message)
	}
	return err
}

// listed is a list cut by --limit: its items, and the cursor of the rest
// ("" when there is none).
type listed[T any] struct {
	items []T
	next  string
}

// pages walks a list through its cursors until limit items are collected.
func pages[T any](limit int, cursor string, fetch func(pageSize int, cursor string) (*app.Page[T], error)) (listed[T], error) {
	var out []T
	for len(out) < limit {
		p, err := fetch(min(limit-len(out), 1000), cursor)
		if err != nil {
			return listed[T]{}, err
		}
		out = append(out, p.Items...)
		if p.NextCursor == nil {
			return listed[T]{items: out}, nil
		}
		cursor = *p.NextCursor
	}
	return listed[T]{out, cursor}, nil
}

// moreHint tells a person how to see the rest of a list cut by --limit.
func moreHint(w io.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", next)
	}
}

// printJSON writes v indented; a nil list as [], so scripts read an empty
// list, never null.
func printJSON(w io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []any{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal (progress is drawn there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// table writes rows aligned in columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// when formats a time for people: local time to the second with its
// offset, "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 -07:00")
}

// orDash renders a string for a table cell: "-" for "" and for nil.
func orDash[S string | *string](s S) string {
	switch s := any(s).(type) {
	case string:
		if s != "" {
			return s
		}
	case *string:
		if s != nil && *s != "" {
			return *s
		}
	}
	return "-"
}

// counts renders a map as "a 1, b 2" in key order.
func counts[V int | int64](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// quick returns a context for one quick API call.
func quick(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, apiTimeout)
}
