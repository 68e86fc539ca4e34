package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/store"
)

// `robaws-edge replay ID… | replay --status failed|rejected`: process kept
// deliveries again; exit 1 when one ends failed or rejected (SPEC §6).

func cmdReplay(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "replay")
	configPath := configFlag(fs)
	status := fs.String("status", "", "replay every entry with this status: failed or rejected")
	asJSON := jsonFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	ids, err := replayArgs(*status, pos)
	if err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	if *status != "" {
		return replayStatus(ctx, env, c, addr, *status, *asJSON)
	}
	return replayIDs(ctx, env, c, addr, ids, *asJSON)
}

// replayArgs checks that replay got IDs or --status (not both) and parses
// the IDs.
func replayArgs(status string, pos []string) ([]uint64, error) {
	switch {
	case status == "" && len(pos) == 0:
		return nil, usageError("replay needs log entry IDs or --status failed|rejected")
	case status != "" && len(pos) > 0:
		return nil, usageError("replay takes IDs or --status, not both")
	case status != "" && status != store.StatusFailed && status != store.StatusRejected:
		return nil, usageError("invalid value %q for flag -status: want failed or rejected", status)
	}
	ids := make([]uint64, len(pos))
	for i, s := range pos {
		var err error
		if ids[i], err = parseLogID(s); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// replayStatus is `replay --status S`: every entry with that status, in
// the daemon, with no deadline but ctx's.
func replayStatus(ctx context.Context, env *cliEnv, c *app.Client, addr, status string, asJSON bool) error {
	s, err := c.ReplayAll(ctx, status)
	if err != nil {
		return apiError(err, addr)
	}
	if asJSON {
		if err := printJSON(env.stdout, s); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.stdout, "replayed %d %s entries: %s", s.Replayed, status, counts(s.ByStatus))
		if s.Skipped > 0 {
			fmt.Fprintf(env.stdout, " (%d skipped: no payload kept or endpoint gone)", s.Skipped)
		}
		fmt.Fprintln(env.stdout)
	}
	return replayOutcome(int64(s.ByStatus[store.StatusFailed] + s.ByStatus[store.StatusRejected]))
}

// replayed is one entry `replay ID…` replayed.
type replayed struct {
	id uint64
	*app.ReplayAnswer
}

// replayIDs is `replay ID…`: each entry in turn. An entry not found or in
// conflict is reported on stderr and the others go on; the table lists the
// ones replayed.
func replayIDs(ctx context.Context, env *cliEnv, c *app.Client, addr string, ids []uint64, asJSON bool) error {
	var results []replayed
	var failed error
	var bad int64
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
		results = append(results, replayed{id, a})
		if a.Status == store.StatusFailed || a.Status == store.StatusRejected {
			bad++
		}
	}
	if err := printReplayed(env, results, asJSON); err != nil {
		return err
	}
	return errors.Join(failed, replayOutcome(bad))
}

// printReplayed prints what replay ID… replayed: a JSON array, or a table
// (none when nothing was replayed: the errors say why).
func printReplayed(env *cliEnv, results []replayed, asJSON bool) error {
	if asJSON {
		list := []*app.ReplayAnswer{}
		for _, r := range results {
			list = append(list, r.ReplayAnswer)
		}
		return printJSON(env.stdout, list)
	}
	if len(results) == 0 {
		return nil
	}
	// LOG differs from ID when the entry turned out to duplicate another.
	t := newTable(env.stdout, "ID", "STATUS", "LOG", "ERROR")
	for _, r := range results {
		t.row(strconv.FormatUint(r.id, 10), r.Status, strconv.FormatUint(r.LogID, 10), orDash(r.Error))
	}
	return t.flush()
}

// replayOutcome is the error (exit 1) of a replay with n entries that
// ended failed or rejected (SPEC §6).
func replayOutcome(n int64) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d replayed entries ended failed or rejected", n)
}
