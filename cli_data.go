package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// The data commands of SPEC §6. Each reads the config for admin.listen and
// admin.token and talks to the running daemon through app.Client; none opens
// the database file, which the daemon holds locked.

func cmdWebhooks(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageError("webhooks needs list, add, register or delete")
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "webhooks "+sub)
	configPath := configFlag(fs)
	switch sub {
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := noArgs(fs, args); err != nil {
			return err
		}
		c, addr, err := daemonClient(*configPath)
		if err != nil {
			return err
		}
		qctx, cancel := quick(ctx)
		defer cancel()
		list, err := c.Webhooks(qctx)
		if err != nil {
			return apiError(err, addr)
		}
		if *asJSON {
			return printJSON(env.stdout, nonNilSlice(list))
		}
		t := newTable(env.stdout, "ID", "ENDPOINT", "SOURCE", "ACTIVE", "SECRET", "WEBHOOK ID", "URL", "CREATED")
		for _, w := range list {
			created := "-"
			if w.CreatedAt != nil {
				created = when(*w.CreatedAt)
			}
			t.row(w.ID, w.Endpoint, w.Source, strconv.FormatBool(w.Active), w.SecretHint, str(w.WebhookID), str(w.URL), created)
		}
		return t.flush()
	case "add":
		endpoint := fs.String("endpoint", "customers", "endpoint the secret signs")
		secret := fs.String("secret", "", "the signing secret (required; - reads it from stdin)")
		webhookID := fs.String("webhook-id", "", "the Robaws webhook id, if known")
		url := fs.String("url", "", "the URL registered at Robaws, if known")
		if err := noArgs(fs, args); err != nil {
			return err
		}
		if *secret == "-" {
			line, err := bufio.NewReader(env.stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read secret from stdin: %w", err)
			}
			*secret = strings.TrimSpace(line)
		}
		if *secret == "" {
			return usageError("flag -secret is required")
		}
		if n := len(strings.TrimSpace(*secret)); n < app.MinSecretLen {
			return usageError("flag -secret: %d characters, want at least %d: paste the whole secret Robaws showed you (a UUID)", n, app.MinSecretLen)
		}
		c, addr, err := daemonClient(*configPath)
		if err != nil {
			return err
		}
		qctx, cancel := quick(ctx)
		defer cancel()
		w, err := c.CreateWebhook(qctx, app.CreateWebhookRequest{Endpoint: *endpoint, Secret: *secret, WebhookID: *webhookID, URL: *url})
		if err != nil {
			return apiError(err, addr)
		}
		fmt.Fprintf(env.stdout, "added secret %s for endpoint %s (%s)\n", w.ID, w.Endpoint, w.SecretHint)
		return nil
	case "register":
		endpoint := fs.String("endpoint", "", "endpoint to register (required)")
		url := fs.String("url", "", "URL Robaws should call (default: the tunnel's public URL + the endpoint's path)")
		force := fs.Bool("force", false, "register even if the endpoint already has an active registration")
		if err := noArgs(fs, args); err != nil {
			return err
		}
		if *endpoint == "" {
			return usageError("flag -endpoint is required")
		}
		c, addr, err := daemonClient(*configPath)
		if err != nil {
			return err
		}
		qctx, cancel := quick(ctx)
		defer cancel()
		w, err := c.RegisterWebhook(qctx, app.RegisterWebhookRequest{Endpoint: *endpoint, URL: *url, Force: *force})
		if err != nil {
			return apiError(err, addr)
		}
		fmt.Fprintf(env.stdout, "registered %s at Robaws as webhook %s for %s; secret %s stored\n", w.Endpoint, str(w.WebhookID), str(w.URL), w.SecretHint)
		return nil
	case "delete":
		remote := fs.Bool("remote", false, "also delete the registration at Robaws")
		pos, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError("webhooks delete needs one ID (see `robaws-edge webhooks list`)")
		}
		c, addr, err := daemonClient(*configPath)
		if err != nil {
			return err
		}
		qctx, cancel := quick(ctx)
		defer cancel()
		del := c.DeleteWebhook
		if *remote {
			del = c.DeleteWebhookRemote
		}
		w, err := del(qctx, pos[0])
		if err != nil {
			return apiError(err, addr)
		}
		fmt.Fprintf(env.stdout, "deactivated secret %s of endpoint %s\n", w.ID, w.Endpoint)
		if *remote {
			fmt.Fprintf(env.stdout, "deleted webhook %s at Robaws\n", str(w.WebhookID))
		}
		return nil
	}
	return usageError("unknown webhooks subcommand %q (want list, add, register or delete)", sub)
}

func cmdLogs(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return cmdLogsShow(ctx, env, args[1:])
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
	asJSON := fs.Bool("json", false, "print JSON (an array of log entries)")
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
	qctx, cancel := quick(ctx)
	defer cancel()
	items, err := pages(*limit, func(n int, cursor string) (*app.Page[*store.Event], error) {
		f.Limit, f.Cursor = n, cursor
		return c.Events(qctx, f)
	})
	if err != nil {
		return apiError(err, addr)
	}
	if *asJSON {
		return printJSON(env.stdout, nonNilSlice(items))
	}
	t := newTable(env.stdout, "ID", "RECEIVED", "ENDPOINT", "EVENT", "CLIENT", "STATUS", "DELIVERIES", "ERROR")
	for _, e := range items {
		t.row(strconv.FormatUint(e.ID, 10), when(e.ReceivedAt), e.Endpoint, orDash(e.Event), orDash(e.ClientID), e.Status, strconv.Itoa(e.Deliveries), orDash(e.Error))
	}
	return t.flush()
}

func cmdLogsShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "logs show")
	configPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("logs show needs one log entry ID")
	}
	id, err := parseLogID(pos[0])
	if err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	qctx, cancel := quick(ctx)
	defer cancel()
	e, err := c.Event(qctx, id)
	if err != nil {
		return apiError(err, addr)
	}
	if *asJSON {
		return printJSON(env.stdout, e)
	}
	t := newTable(env.stdout, "FIELD", "VALUE")
	t.row("id", strconv.FormatUint(e.ID, 10))
	t.row("received_at", when(e.ReceivedAt))
	t.row("endpoint", e.Endpoint)
	t.row("event", orDash(e.Event.Event))
	t.row("event_id", orDash(e.EventID))
	t.row("client_id", orDash(e.ClientID))
	t.row("status", e.Status)
	t.row("error", orDash(e.Error))
	t.row("deliveries", strconv.Itoa(e.Deliveries))
	t.row("last_delivery_at", when(e.LastDeliveryAt))
	t.row("duration_us", strconv.FormatInt(e.DurationUS, 10))
	t.row("signature_timestamp", strconv.FormatInt(e.SignatureTimestamp, 10))
	t.row("remote_addr", orDash(e.RemoteAddr))
	t.row("secret_id", orDash(e.SecretID))
	if err := t.flush(); err != nil {
		return err
	}
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

func cmdReplay(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "replay")
	configPath := configFlag(fs)
	status := fs.String("status", "", "replay every entry with this status: failed or rejected")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *status == "" && len(pos) == 0:
		return usageError("replay needs log entry IDs or --status failed|rejected")
	case *status != "" && len(pos) > 0:
		return usageError("replay takes IDs or --status, not both")
	case *status != "" && *status != store.StatusFailed && *status != store.StatusRejected:
		return usageError("invalid value %q for flag -status: want failed or rejected", *status)
	}
	ids := make([]uint64, len(pos))
	for i, s := range pos {
		if ids[i], err = parseLogID(s); err != nil {
			return err
		}
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	if *status != "" {
		s, err := c.ReplayAll(ctx, *status)
		if err != nil {
			return apiError(err, addr)
		}
		if *asJSON {
			return printJSON(env.stdout, s)
		}
		fmt.Fprintf(env.stdout, "replayed %d %s entries: %s", s.Replayed, *status, counts(s.ByStatus))
		if s.Skipped > 0 {
			fmt.Fprintf(env.stdout, " (%d skipped: no payload kept or endpoint gone)", s.Skipped)
		}
		fmt.Fprintln(env.stdout)
		return nil
	}
	type result struct {
		id uint64
		*app.ReplayAnswer
	}
	var results []result
	var failed error
	for _, id := range ids {
		qctx, cancel := quick(ctx)
		a, err := c.Replay(qctx, id)
		cancel()
		var ae *app.APIError
		if errors.As(err, &ae) && (ae.Code == 404 || ae.Code == 409) {
			// Report this entry and go on with the others.
			fmt.Fprintf(env.stderr, "robaws-edge: replay %d: %s\n", id, ae.Message)
			failed = errors.New("some entries were not replayed")
			continue
		} else if err != nil {
			return apiError(err, addr)
		}
		results = append(results, result{id, a})
	}
	if *asJSON {
		list := []*app.ReplayAnswer{}
		for _, r := range results {
			list = append(list, r.ReplayAnswer)
		}
		if err := printJSON(env.stdout, list); err != nil {
			return err
		}
		return failed
	}
	// LOG differs from ID when the entry turned out to duplicate another.
	t := newTable(env.stdout, "ID", "STATUS", "LOG", "ERROR")
	for _, r := range results {
		t.row(strconv.FormatUint(r.id, 10), r.Status, strconv.FormatUint(r.LogID, 10), orDash(r.Error))
	}
	if err := t.flush(); err != nil {
		return err
	}
	return failed
}

func cmdCustomers(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && (args[0] == "show" || args[0] == "history") {
		return cmdCustomer(ctx, env, args[0], args[1:])
	}
	fs := newFlags(env, "customers")
	configPath := configFlag(fs)
	var f store.CustomerFilter
	fs.StringVar(&f.Q, "q", "", "search id, name, email, VAT number, phone, mobile and city")
	fs.StringVar(&f.Role, "role", "", "only this role")
	fs.StringVar(&f.PricingCode, "pricing-code", "", "only this pricing code (A, B or C)")
	active := fs.String("active", "", "only active (true) or inactive (false) customers")
	limit := limitFlag(fs, 50)
	asJSON := fs.Bool("json", false, "print JSON (an array of customers)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	if *active != "" {
		b, err := strconv.ParseBool(*active)
		if err != nil {
			return usageError("invalid value %q for flag -active: want true or false", *active)
		}
		f.Active = &b
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	qctx, cancel := quick(ctx)
	defer cancel()
	items, err := pages(*limit, func(n int, cursor string) (*app.Page[*store.Customer], error) {
		f.Limit, f.Cursor = n, cursor
		return c.Customers(qctx, f)
	})
	if err != nil {
		return apiError(err, addr)
	}
	if *asJSON {
		return printJSON(env.stdout, nonNilSlice(items))
	}
	t := newTable(env.stdout, "ID", "NAME", "EMAIL", "PHONE", "CITY", "ROLE", "PRICING", "ACTIVE", "UPDATED")
	for _, cu := range items {
		t.row(cu.ID, orDash(cu.Name), str(cu.Email), str(cu.Phone), str(cu.Address.City), str(cu.Role), str(cu.PricingCode), strconv.FormatBool(cu.IsActive), when(cu.UpdatedAt))
	}
	return t.flush()
}

// cmdCustomer runs `customers show ID` and `customers history ID`.
func cmdCustomer(ctx context.Context, env *cliEnv, sub string, args []string) error {
	fs := newFlags(env, "customers "+sub)
	configPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := new(int)
	if sub == "history" {
		limit = limitFlag(fs, 50)
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if sub == "history" {
		if err := checkLimit(*limit); err != nil {
			return err
		}
	}
	if len(pos) != 1 {
		return usageError("customers %s needs one customer ID", sub)
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	qctx, cancel := quick(ctx)
	defer cancel()
	if sub == "show" {
		cu, err := c.Customer(qctx, pos[0])
		if err != nil {
			return apiError(err, addr)
		}
		if *asJSON {
			return printJSON(env.stdout, cu)
		}
		return printCustomer(env, cu)
	}
	items, err := pages(*limit, func(n int, cursor string) (*app.Page[*store.HistoryEntry], error) {
		return c.History(qctx, store.HistoryFilter{CustomerID: pos[0], Limit: n, Cursor: cursor})
	})
	if err != nil {
		return apiError(err, addr)
	}
	if *asJSON {
		return printJSON(env.stdout, nonNilSlice(items))
	}
	t := newTable(env.stdout, "AT", "SOURCE", "EVENT", "LOG", "CHANGES")
	for _, h := range items {
		logID := "-"
		if h.LogID != nil {
			logID = strconv.FormatUint(*h.LogID, 10)
		}
		t.row(when(h.At), h.Source, h.Event, logID, changes(h.Changes))
	}
	return t.flush()
}

func printCustomer(env *cliEnv, c *store.Customer) error {
	t := newTable(env.stdout, "FIELD", "VALUE")
	a := c.Address
	for _, r := range [][2]string{
		{"id", c.ID}, {"name", orDash(c.Name)}, {"email", str(c.Email)}, {"phone", str(c.Phone)},
		{"mobile", str(c.Mobile)}, {"vat_number", str(c.VATNumber)},
		{"address", joinParts(a.Line1, a.Line2, a.PostalCode, a.City, a.Country)},
		{"role", str(c.Role)}, {"pricing_code", str(c.PricingCode)}, {"website", str(c.Website)},
		{"language", str(c.Language)}, {"currency", c.Currency}, {"client_type", str(c.ClientType)},
		{"is_active", strconv.FormatBool(c.IsActive)}, {"version", when(c.Version)},
		{"created_at", when(c.CreatedAt)}, {"updated_at", when(c.UpdatedAt)},
		{"last_event_id", orDash(c.LastEventID)}, {"source", c.Source},
	} {
		t.row(r[0], r[1])
	}
	return t.flush()
}

func joinParts(parts ...*string) string {
	var out []string
	for _, p := range parts {
		if p != nil && *p != "" {
			out = append(out, *p)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// changes renders a history entry's changes as "field: from → to; …".
func changes(m map[string]store.Change) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s → %s", k, value(m[k].From), value(m[k].To))
	}
	return strings.Join(parts, "; ")
}

func value(v any) string {
	if v == nil {
		return "null"
	}
	data, _ := json.Marshal(v)
	return string(data)
}

func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup")
	configPath := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("backup needs one FILE to write")
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	// Ctrl-C ends the download; writeBackup then removes its temp file.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := writeBackup(ctx, c, pos[0])
	if err != nil {
		return apiError(err, addr)
	}
	fmt.Fprintf(env.stdout, "wrote %s (%d bytes)\n", pos[0], n)
	return nil
}

// writeBackup downloads the daemon's snapshot into a temp file next to
// path, syncs it, renames it over path and syncs the directory, so path is
// either the old file or a complete new one.
func writeBackup(ctx context.Context, c *app.Client, path string) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := c.Backup(ctx, f)
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	ok = true
	return n, syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing; its rename is durable through NTFS's journal.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// noArgs parses flags and rejects positional arguments.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("unexpected argument %q", pos[0])
	}
	return nil
}

func parseLogID(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usageError("invalid log entry ID %q: want a number", s)
	}
	return n, nil
}

// sinceFlag parses --since: RFC 3339, or a duration meaning that long ago.
func sinceFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usageError("invalid value %q for flag -since: want RFC 3339 (2026-11-30T08:00:00Z) or a duration (24h)", s)
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
