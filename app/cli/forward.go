package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/forward"
)

// `robaws-edge forward …` (SPEC §8): the destinations, their attempts and
// dead items; pause, resume, resend and a test item.

// forwardSubcommands are the subcommands of `forward`, one function each.
var forwardSubcommands = group{
	{"list", forwardList},
	{"attempts", forwardAttempts},
	{"dead", forwardDead},
	{"pause", forwardPause(true)},
	{"resume", forwardPause(false)},
	{"resend", forwardResend},
	{"test", forwardTest},
}

// forwardArgs parses the flags and wants exactly one destination name when
// named is set; it returns the config path and the name.
func forwardArgs(fs *flag.FlagSet, args []string, named bool, sub string) (string, string, error) {
	configPath := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", "", err
	}
	name := ""
	switch {
	case named && len(pos) != 1:
		return "", "", usageError("forward %s needs one destination name (see `robaws-edge forward list`)", sub)
	case !named && len(pos) > 0:
		return "", "", usageError("unexpected argument %q", pos[0])
	case named:
		name = pos[0]
	}
	return *configPath, name, nil
}

func forwardList(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	asJSON := jsonFlag(fs)
	configPath, _, err := forwardArgs(fs, args, false, "list")
	if err != nil {
		return err
	}
	list, err := ask(ctx, configPath, func(ctx context.Context, c *app.Client) ([]forward.Status, error) {
		return c.Forward(ctx)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no forward destinations configured (the forward section of the config)")
		return nil
	}
	t := newTable(env.stdout, "NAME", "KIND", "STREAM", "TARGET", "STATUS", "PENDING", "OLDEST PENDING", "DELIVERED", "DEAD", "LAST ANSWER")
	for _, s := range list {
		state := s.Status
		if s.Status == "retrying" && s.RetryingSince != nil {
			state = "retrying since " + when(*s.RetryingSince)
		}
		oldest := "-"
		if s.OldestPendingAt != nil {
			oldest = when(*s.OldestPendingAt)
		}
		last := "ok"
		if s.LastError != nil {
			last = *s.LastError
		} else if s.LastSuccessAt == nil {
			last = "-"
		}
		t.row(s.Name, s.Kind, s.Stream, s.Target, state, strconv.Itoa(s.Pending), oldest, strconv.FormatUint(s.Delivered, 10), strconv.Itoa(s.Dead), last)
	}
	return t.flush()
}

func forwardAttempts(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	asJSON := jsonFlag(fs)
	configPath, name, err := forwardArgs(fs, args, true, "attempts")
	if err != nil {
		return err
	}
	list, err := ask(ctx, configPath, func(ctx context.Context, c *app.Client) ([]forward.Attempt, error) {
		return c.ForwardAttempts(ctx, name)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, list)
	}
	t := newTable(env.stdout, "AT", "ITEM", "LOG", "STATUS", "MS", "ERROR", "ANSWER")
	for _, a := range list {
		code := "-"
		if a.StatusCode != 0 {
			code = strconv.Itoa(a.StatusCode)
		}
		t.row(when(a.At), a.ItemID, logRef(a.LogID), code, strconv.FormatFloat(a.DurationMS, 'f', 1, 64), orDash(a.Error), oneLine(a.ResponseExcerpt, 80))
	}
	return t.flush()
}

func forwardDead(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	asJSON := jsonFlag(fs)
	configPath, name, err := forwardArgs(fs, args, true, "dead")
	if err != nil {
		return err
	}
	list, err := ask(ctx, configPath, func(ctx context.Context, c *app.Client) ([]app.DeadItem, error) {
		return c.ForwardDead(ctx, name)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, list)
	}
	t := newTable(env.stdout, "ITEM", "LOG", "DEAD SINCE", "ATTEMPTS", "LAST STATUS", "LAST ERROR")
	for _, d := range list {
		t.row(d.ItemID, logRef(d.LogID), when(d.DeadAt), strconv.Itoa(d.Attempts), strconv.Itoa(d.LastStatusCode), orDash(d.LastError))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(list) > 0 {
		fmt.Fprintf(env.stdout, "fix the target, then: robaws-edge forward resend %s --dead\n", name)
	}
	return nil
}

func forwardPause(pause bool) func(context.Context, *cliEnv, *flag.FlagSet, []string) error {
	return func(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
		sub := map[bool]string{true: "pause", false: "resume"}[pause]
		configPath, name, err := forwardArgs(fs, args, true, sub)
		if err != nil {
			return err
		}
		s, err := ask(ctx, configPath, func(ctx context.Context, c *app.Client) (*forward.Status, error) {
			return c.ForwardPause(ctx, name, pause)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: %s, %d pending\n", s.Name, s.Status, s.Pending)
		return nil
	}
}

func forwardResend(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	dead := fs.Bool("dead", false, "every dead item")
	since := fs.String("since", "", "items since this time (RFC 3339 or a duration such as 24h)")
	event := fs.String("event", "", "items of this event")
	client := fs.String("client", "", "items of this customer id")
	configPath := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError("forward resend needs a destination name, then ids or --dead, --since, --event, --client")
	}
	req := app.ResendRequest{IDs: pos[1:], Dead: *dead, Event: *event, ClientID: *client}
	if t, err := sinceFlag(*since); err != nil {
		return err
	} else if !t.IsZero() {
		req.Since = &t
	}
	if len(req.IDs) == 0 && !req.Dead && req.Since == nil && req.Event == "" && req.ClientID == "" {
		return usageError("say what to resend: item ids, --dead, or --since, --event, --client")
	}
	a, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (*app.ResendAnswer, error) {
		return c.ForwardResend(ctx, pos[0], req)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "queued %d item(s) for %s, after what is pending\n", a.Queued, pos[0])
	return nil
}

// errTestRefused is the exit 1 of a test item the target did not accept.
var errTestRefused = errors.New("the target did not accept the test item")

func forwardTest(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath, name, err := forwardArgs(fs, args, true, "test")
	if err != nil {
		return err
	}
	c, addr, err := daemonClient(configPath)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 2*apiTimeout)
	defer cancel()
	a, err := c.ForwardTest(qctx, name)
	if err != nil {
		return apiError(err, addr)
	}
	code := "no HTTP status"
	if a.StatusCode != 0 {
		code = strconv.Itoa(a.StatusCode)
	}
	fmt.Fprintf(env.stdout, "%s: test item %s: %s in %s\n", name, a.ItemID, code, time.Duration(a.DurationMS*float64(time.Millisecond)).Round(time.Millisecond))
	if a.ResponseExcerpt != "" {
		fmt.Fprintf(env.stdout, "answer: %s\n", oneLine(a.ResponseExcerpt, 200))
	}
	if a.Error != nil {
		return fmt.Errorf("%w: %s", errTestRefused, *a.Error)
	}
	return nil
}

func logRef(id *uint64) string {
	if id == nil {
		return "-"
	}
	return strconv.FormatUint(*id, 10)
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}
