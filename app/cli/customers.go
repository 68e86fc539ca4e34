package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// `robaws-edge customers`: the customer cache, sorted by name; `customers
// show ID`: one record and its deliveries; `customers history ID`: its
// changes.

// cmdCustomers is `customers [filters]`, and its show and history.
func cmdCustomers(ctx context.Context, env *cliEnv, args []string) error {
	switch {
	case len(args) > 0 && args[0] == "show":
		return customersShow(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "history":
		return customersHistory(ctx, env, args[1:])
	}
	fs := newFlags(env, "customers")
	configPath := configFlag(fs)
	var f store.CustomerFilter
	fs.StringVar(&f.Q, "q", "", "search id, name, email, VAT number, phone, mobile and city")
	fs.StringVar(&f.Role, "role", "", "only this role")
	fs.StringVar(&f.PricingCode, "pricing-code", "", "only this pricing code (A, B or C)")
	active := fs.String("active", "", "only active (true) or inactive (false) customers")
	fs.BoolVar(&f.Test, "test", false, "list send-test's customers (ids starting TEST-) too; left out by default")
	limit := limitFlag(fs, 50)
	asJSON := fs.Bool("json", false, "print JSON (an array of customers)")
	cursor := fs.String("cursor", "", "continue a list cut by --limit (the \"more: --cursor X\" it printed)")
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
	l, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (listed[*store.Customer], error) {
		return pages(*limit, *cursor, func(n int, cursor string) (*app.Page[*store.Customer], error) {
			f.Limit, f.Cursor = n, cursor
			return c.Customers(ctx, f)
		})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, l.items)
	}
	t := newTable(env.stdout, "ID", "NAME", "EMAIL", "PHONE", "CITY", "ROLE", "PRICING", "ACTIVE", "UPDATED")
	for _, cu := range l.items {
		t.row(cu.ID, orDash(cu.Name), orDash(cu.Email), orDash(cu.Phone), orDash(cu.Address.City), orDash(cu.Role), orDash(cu.PricingCode), strconv.FormatBool(cu.IsActive), when(cu.UpdatedAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	moreHint(env.stdout, l.next)
	return nil
}

// customersShow is `customers show ID`: the record, then the customer's
// newest deliveries.
func customersShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "customers show")
	configPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (the record only: logs --client ID --json lists its deliveries)")
	id, err := oneArg(fs, args, "customers show needs one customer ID")
	if err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	cu, err := askClient(ctx, c, addr, func(ctx context.Context, c *app.Client) (*store.Customer, error) {
		return c.Customer(ctx, id)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, cu)
	}
	if err := printCustomer(env, cu); err != nil {
		return err
	}
	return printDeliveries(ctx, env, c, addr, id)
}

// customersHistory is `customers history ID`: the record's changes,
// newest first, one change per line.
func customersHistory(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "customers history")
	configPath := configFlag(fs)
	asJSON := jsonFlag(fs)
	limit := limitFlag(fs, 50)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("customers history needs one customer ID")
	}
	l, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (listed[*store.HistoryEntry], error) {
		return pages(*limit, "", func(n int, cursor string) (*app.Page[*store.HistoryEntry], error) {
			return c.History(ctx, store.HistoryFilter{CustomerID: pos[0], Limit: n, Cursor: cursor})
		})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, l.items)
	}
	t := newTable(env.stdout, "AT", "SOURCE", "EVENT", "LOG", "CHANGES")
	for _, h := range l.items {
		// One change per line, under its entry.
		for i, ch := range changes(h.Changes) {
			if i == 0 {
				t.row(when(h.At), h.Source, h.Event, logRef(h.LogID), ch)
			} else {
				t.row("", "", "", "", ch)
			}
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if l.next != "" {
		fmt.Fprintf(env.stdout, "more: --limit %d shows more\n", *limit*2)
	}
	return nil
}

// customerDeliveries is how many deliveries `customers show` lists: a
// screenful of the newest; `logs --client ID --cursor` goes on.
const customerDeliveries = 20

// printDeliveries lists the customer's newest deliveries, every status
// (failed, stale and rejected ones too), from the log's client index: one
// page, one query, with the logs command that shows the rest.
func printDeliveries(ctx context.Context, env *cliEnv, c *app.Client, addr, id string) error {
	p, err := askClient(ctx, c, addr, func(ctx context.Context, c *app.Client) (*app.Page[*store.LogEntry], error) {
		return c.LogEntries(ctx, store.LogFilter{ClientID: id, Limit: customerDeliveries})
	})
	if err != nil {
		return err
	}
	if len(p.Items) == 0 {
		fmt.Fprintln(env.stdout, "\ndeliveries: none in the log")
		return nil
	}
	fmt.Fprintln(env.stdout, "\ndeliveries, newest first:")
	t := newTable(env.stdout, "LOG", "RECEIVED", "ENDPOINT", "EVENT", "STATUS", "DELIVERIES", "ERROR")
	for _, e := range p.Items {
		t.row(strconv.FormatUint(e.ID, 10), when(e.ReceivedAt), e.Endpoint, orDash(e.Event), e.Status, strconv.Itoa(e.Deliveries), orDash(e.Error))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if p.NextCursor != nil {
		fmt.Fprintf(env.stdout, "more: robaws-edge logs --client %s --cursor %s\n", shellWord(id), *p.NextCursor)
	}
	return nil
}

// shellWord quotes s for a POSIX shell unless it is a plain word, so a
// hint can be pasted as it is.
func shellWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@+", r)) {
			plain = false
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func printCustomer(env *cliEnv, c *store.Customer) error {
	t := newTable(env.stdout, "FIELD", "VALUE")
	for _, r := range [][2]string{
		{"id", c.ID}, {"name", orDash(c.Name)}, {"email", orDash(c.Email)}, {"phone", orDash(c.Phone)},
		{"mobile", orDash(c.Mobile)}, {"vat_number", orDash(c.VATNumber)},
		{"address", orDash(c.Address.OneLine())},
		{"role", orDash(c.Role)}, {"pricing_code", orDash(c.PricingCode)}, {"website", orDash(c.Website)},
		{"language", orDash(c.Language)}, {"currency", c.Currency}, {"client_type", orDash(c.ClientType)},
		{"is_active", strconv.FormatBool(c.IsActive)}, {"version", when(c.Version)},
		{"created_at", when(c.CreatedAt)}, {"updated_at", when(c.UpdatedAt)},
		{"last_event_id", orDash(c.LastEventID)}, {"source", c.Source},
	} {
		t.row(r[0], r[1])
	}
	return t.flush()
}

// changes renders a history entry's changes as "field: from → to; …".
func changes(m map[string]store.Change) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s → %s", k, value(m[k].From), value(m[k].To))
	}
	if len(parts) == 0 {
		return []string{"-"}
	}
	return parts
}

func value(v any) string {
	if v == nil {
		return "null"
	}
	data, _ := json.Marshal(v)
	return string(data)
}
