package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/configs"
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

// apiError turns a client error into what the user should read: how to
// start a daemon that does not answer, a token hint for 401, and a usage
// error (exit 2) for a bad parameter.
func apiError(err error, addr string) error {
	var ae *app.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, app.ErrUnreachable):
		return fmt.Errorf("robaws-edge is not running (no answer on %s): start it with `robaws-edge run` or `robaws-edge start`", addr)
	case errors.As(err, &ae) && ae.Code == 401:
		return fmt.Errorf("the daemon on %s refused the request (%s): check admin.token in the config", addr, ae.Message)
	case errors.As(err, &ae) && ae.Code == 400:
		return usageError("%s", ae.Message)
	}
	return err
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default: "+configs.DefaultConfigPath()+" if it exists, else built-in defaults)")
}

// limitFlag adds --limit to fs.
func limitFlag(fs *flag.FlagSet, def int) *int {
	return fs.Int("limit", def, "how many items to show")
}

// checkLimit rejects a --limit below 1.
func checkLimit(n int) error {
	if n < 1 {
		return usageError("invalid value %d for flag -limit: must be at least 1", n)
	}
	return nil
}

// pages walks a list through its cursors until limit items are collected.
func pages[T any](limit int, cursor string, fetch func(pageSize int, cursor string) (*app.Page[T], error)) ([]T, string, error) {
	var out []T
	for len(out) < limit {
		p, err := fetch(min(limit-len(out), 1000), cursor)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p.Items...)
		if p.NextCursor == nil {
			return out, "", nil
		}
		cursor = *p.NextCursor
	}
	return out, cursor, nil
}

// moreHint tells a person how to see the rest of a list cut by --limit.
func moreHint(w io.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", next)
	}
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
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

// str renders an optional string, "-" for none.
func str(p *string) string {
	if p == nil || *p == "" {
		return "-"
	}
	return *p
}

// orDash renders "" as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
