package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// `robaws-edge logs`: the delivery log, newest first, a page at a time or
// followed live; `logs show ID`: one entry with its payload.

// cmdLogs is `logs [filters]`, and `logs show ID`.
func cmdLogs(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return logsShow(ctx, env, args[1:])
	}
	fs := newFlags(env, "logs")
	configPath := configFlag(fs)
	var f store.LogFilter
	fs.StringVar(&f.Event, "event", "", "only this event, e.g. client.updated")
	fs.StringVar(&f.Status, "status", "", "only this status: processed, failed, ignored, stale or rejected")
	fs.StringVar(&f.ClientID, "client", "", "only deliveries about this client id")
	fs.StringVar(&f.Endpoint, "endpoint", "", "only this endpoint")
	since := fs.String("since", "", "only entries received since this time (RFC 3339) or this long ago (e.g. 24h)")
	limit := limitFlag(fs, 50)
	asJSON := fs.Bool("json", false, "print JSON (an array of log entries; with --follow one object per line)")
	cursor := fs.String("cursor", "", "continue a list cut by --limit (the \"more: --cursor X\" it printed)")
	follow := fs.Bool("follow", false, "after the list, print new and changed entries as they happen, until Ctrl-C")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	var err error
	if f.Since, err = sinceFlag(*since); err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	l, err := askClient(ctx, c, addr, func(ctx context.Context, c *app.Client) (listed[*store.LogEntry], error) {
		return pages(*limit, *cursor, func(n int, cursor string) (*app.Page[*store.LogEntry], error) {
			f.Limit, f.Cursor = n, cursor
			return c.LogEntries(ctx, f)
		})
	})
	if err != nil {
		return err
	}
	if *follow {
		return followLogs(ctx, env, c, addr, f, l.items, *asJSON)
	}
	if *asJSON {
		return printJSON(env.stdout, l.items)
	}
	t := newTable(env.stdout, logColumns...)
	for _, e := range l.items {
		t.row(logRow(e)...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	moreHint(env.stdout, l.next)
	return nil
}

var logColumns = []string{"ID", "RECEIVED", "ENDPOINT", "EVENT", "CLIENT", "STATUS", "DELIVERIES", "ERROR"}

// followWidths are the least widths of logColumns for --follow: an id, a
// local time with its offset, the usual endpoint, event, client and status.
var followWidths = []int{7, len("2006-01-02 15:04:05 -07:00"), 10, len("client.updated"), 12, len("processed"), len("DELIVERIES")}

// columns lays out rows that arrive one at a time: each cell but the last
// padded to its column's width, columns two spaces apart. A cell wider
// than its column widens it for the rows after.
type columns struct{ width []int }

func newColumns(header []string, least []int) *columns {
	c := &columns{width: make([]int, len(header)-1)}
	for i := range c.width {
		if i < len(least) {
			c.width[i] = least[i]
		}
	}
	c.fit(header)
	return c
}

// fit widens the columns to hold cells.
func (c *columns) fit(cells []string) {
	for i := range c.width {
		if i < len(cells) {
			c.width[i] = max(c.width[i], utf8.RuneCountInString(cells[i]))
		}
	}
}

// line renders cells as one line, widening the columns first.
func (c *columns) line(cells []string) string {
	cells = slices.Clone(cells)
	for i, cell := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cell)
	}
	c.fit(cells)
	var b strings.Builder
	for i, cell := range cells {
		b.WriteString(cell)
		if i < len(c.width) && i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", c.width[i]-utf8.RuneCountInString(cell)+2))
		}
	}
	b.WriteByte('\n')
	return b.String()
}

func logRow(e *store.LogEntry) []string {
	return []string{strconv.FormatUint(e.ID, 10), when(e.ReceivedAt), e.Endpoint, orDash(e.Event), orDash(e.ClientID), e.Status, strconv.Itoa(e.Deliveries), orDash(e.Error)}
}

// followLogs prints items oldest first, then every new or changed entry
// from the daemon's stream (GET /api/webhook-logs/stream) as it happens,
// until Ctrl-C. With asJSON each entry is one JSON line.
func followLogs(ctx context.Context, env *cliEnv, c *app.Client, addr string, f store.LogFilter, items []*store.LogEntry, asJSON bool) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Rows come one at a time, so a table cannot align them: columns are
	// as wide as the header and the first list, and a later cell that is
	// wider still keeps two spaces before the next column.
	cols := newColumns(logColumns, followWidths)
	for _, e := range items {
		cols.fit(logRow(e))
	}
	line := cols.line
	print := func(e *store.LogEntry) error {
		if asJSON {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.stdout, "%s\n", b)
			return err
		}
		_, err := io.WriteString(env.stdout, line(logRow(e)))
		return err
	}
	if !asJSON {
		if _, err := io.WriteString(env.stdout, line(logColumns)); err != nil {
			return err
		}
	}
	for i := len(items) - 1; i >= 0; i-- {
		if err := print(items[i]); err != nil {
			return err
		}
	}
	f.Limit, f.Cursor = 0, ""
	err := c.Follow(ctx, f, func() {
		fmt.Fprintln(env.stderr, "following new and changed entries; Ctrl-C stops")
	}, print)
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the daemon on %s closed the stream (stopped?)", addr)
	}
	return apiError(err, addr)
}

// logsShow is `logs show ID`: one entry, its status history and its
// payload.
func logsShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "logs show")
	configPath := configFlag(fs)
	asJSON := jsonFlag(fs)
	arg, err := oneArg(fs, args, "logs show needs one log entry ID")
	if err != nil {
		return err
	}
	id, err := parseLogID(arg)
	if err != nil {
		return err
	}
	e, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (*app.LogEntryDetail, error) {
		return c.LogEntry(ctx, id)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, e)
	}
	t := newTable(env.stdout, "FIELD", "VALUE")
	eventRows(t, e)
	if err := t.flush(); err != nil {
		return err
	}
	return printPayload(env, e)
}

// eventRows adds a log entry's fields to a FIELD VALUE table.
func eventRows(t *table, e *app.LogEntryDetail) {
	t.row("id", strconv.FormatUint(e.ID, 10))
	t.row("received_at", when(e.ReceivedAt))
	t.row("endpoint", e.Endpoint)
	t.row("event", orDash(e.LogEntry.Event))
	t.row("event_id", orDash(e.EventID))
	t.row("client_id", orDash(e.ClientID))
	t.row("status", e.Status)
	t.row("error", orDash(e.Error))
	t.row("deliveries", strconv.Itoa(e.Deliveries))
	t.row("last_delivery_at", when(e.LastDeliveryAt))
	t.row("duration_us", strconv.FormatInt(e.DurationUS, 10))
	sigAt := "-"
	if e.SignatureTimestamp > 0 {
		sigAt = when(time.Unix(e.SignatureTimestamp, 0))
	}
	t.row("signature_timestamp", sigAt)
	if s := e.Signature; s != nil {
		sig := fmt.Sprintf("%d v1 element(s)", s.V1Count)
		if s.Timestamp != nil && s.AgeSeconds != nil {
			sig = fmt.Sprintf("signed %s, %s, ", when(*s.Timestamp), app.SignatureAge(*s.AgeSeconds)) + sig
		}
		t.row("signature", sig)
	}
	for i, h := range e.StatusHistory {
		name := ""
		if i == 0 {
			name = "status_history"
		}
		t.row(name, fmt.Sprintf("%s  %s (by %s)", when(h.At), h.Status, h.By))
	}
	t.row("remote_addr", orDash(e.RemoteAddr))
	t.row("secret_id", orDash(e.SecretID))
}

// printPayload prints the payload kept with a log entry: JSON indented,
// text as it is, anything else in base64.
func printPayload(env *cliEnv, e *app.LogEntryDetail) error {
	switch {
	case e.Payload != nil:
		fmt.Fprintln(env.stdout, "\npayload:")
		return printJSON(env.stdout, e.Payload)
	case e.PayloadText != nil:
		fmt.Fprintf(env.stdout, "\npayload (not JSON):\n%s\n", *e.PayloadText)
	case e.PayloadBase64 != nil:
		fmt.Fprintf(env.stdout, "\npayload (not UTF-8 text, %d bytes, base64):\n%s\n", len(e.PayloadBase64), base64.StdEncoding.EncodeToString(e.PayloadBase64))
	default:
		fmt.Fprintln(env.stdout, "\npayload: not kept")
	}
	return nil
}
