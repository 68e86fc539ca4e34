package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
	"github.com/robaws-edge/robaws-edge/app/robaws"
)

// syncSubcommands are the subcommands of `sync`: one, for now.
var syncSubcommands = group{{"customers", syncCustomers}}

// cmdSync is `sync customers`: its own message for anything else.
func cmdSync(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] != "customers" {
		return usageError("sync needs customers (robaws-edge sync customers [--since T])")
	}
	return syncSubcommands.run(ctx, env, "sync", args)
}

// syncCustomers is `sync customers [--since T]`: start a sync in the
// daemon (or follow the one that runs) and show its progress until it
// ends.
func syncCustomers(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	sinceText := fs.String("since", "", "only clients updated since T (RFC 3339 or a duration such as 24h); default: all")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	since, err := sinceFlag(*sinceText)
	if err != nil {
		return err
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	var sincePtr *time.Time
	if !since.IsZero() {
		sincePtr = &since
	}
	qctx, cancel := quick(ctx)
	_, err = c.StartSync(qctx, sincePtr)
	cancel()
	var ae *app.APIError
	if errors.As(err, &ae) && ae.Code == http.StatusConflict && strings.Contains(ae.Message, "already running") {
		fmt.Fprintln(env.stderr, "a sync is already running; following it")
	} else if err != nil {
		return apiError(err, addr)
	}
	return followSync(ctx, env, c, addr)
}

// followSync shows the daemon's sync progress on stderr until the sync
// ends, then says how it ended.
func followSync(ctx context.Context, env *cliEnv, c *app.Client, addr string) error {
	bar := &progressBar{w: env.stderr, tty: isTerminal(env.stderr)}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		qctx, cancel := quick(ctx)
		p, err := c.Sync(qctx)
		cancel()
		if err != nil {
			return apiError(err, addr)
		}
		bar.show(p)
		if !p.Running {
			bar.done()
			return syncEnded(env, p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// syncEnded says how a sync ended: finished, with its counts, or failed
// (said once, as the error, never "finished" first).
func syncEnded(env *cliEnv, p *robaws.SyncProgress) error {
	counts := fmt.Sprintf("fetched %d of %d, applied %d, unchanged %d, stale %d, errors %d", p.Fetched, p.Total, p.Applied, p.Unchanged, p.Stale, p.Errors)
	if p.Error != "" {
		return fmt.Errorf("sync failed (%s): %s", counts, p.Error)
	}
	fmt.Fprintf(env.stdout, "sync finished: %s\n", counts)
	return nil
}

// progressBar draws a one-line bar on a terminal, and plain lines (at most
// every two seconds) elsewhere.
type progressBar struct {
	w        io.Writer
	tty      bool
	lastLine time.Time
	drawn    bool
}

func (b *progressBar) show(p *robaws.SyncProgress) {
	counts := fmt.Sprintf("%d/%d fetched, %d applied, %d unchanged, %d stale, %d errors", p.Fetched, p.Total, p.Applied, p.Unchanged, p.Stale, p.Errors)
	if !b.tty {
		if time.Since(b.lastLine) >= 2*time.Second || !p.Running {
			fmt.Fprintln(b.w, "sync:", counts)
			b.lastLine = time.Now()
		}
		return
	}
	const width = 30
	filled := 0
	if p.Total > 0 {
		filled = min(width, p.Fetched*width/p.Total)
	}
	fmt.Fprintf(b.w, "\r[%s%s] %s\x1b[K", strings.Repeat("#", filled), strings.Repeat(".", width-filled), counts)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}
