package forward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/robaws-edge/robaws-edge/store"
)

// Resending: a request (ids, dead items, a filter) turned into refs of the
// destination's stream, which the store queues after what is pending.

// resolve turns a resend request into refs of the destination's stream,
// oldest first, keeping only items the destination forwards.
func (d *dest) resolve(ctx context.Context, r ResendRequest) ([]uint64, error) {
	var refs []uint64
	for _, id := range r.IDs {
		ref, err := d.f.db.FindForwardRef(ctx, d.cfg.Stream, strings.TrimSpace(id))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q in the %s stream of %s", ErrUnknownItem, id, d.cfg.Stream, d.cfg.Name)
		} else if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	if !r.Since.IsZero() || r.Event != "" || r.ClientID != "" {
		more, err := d.find(ctx, r)
		if err != nil {
			return nil, err
		}
		refs = append(refs, more...)
	}
	// Only what this destination forwards, each once.
	items, err := d.f.db.LoadForward(ctx, d.cfg.Stream, refs, true)
	if err != nil {
		return nil, err
	}
	seen := map[uint64]bool{}
	out := refs[:0]
	for i, ref := range refs {
		if items[i] == nil || seen[ref] || !d.filter.Keep(items[i].Event, items[i].Test) {
			continue
		}
		seen[ref] = true
		out = append(out, ref)
	}
	return out, nil
}

// find lists the refs a filter selects in the destination's stream, oldest
// first.
func (d *dest) find(ctx context.Context, r ResendRequest) ([]uint64, error) {
	const most = 100000
	var refs []uint64
	cursor := ""
	for {
		if d.cfg.Stream == store.StreamChanges {
			page, next, err := d.f.db.FindHistory(ctx, store.HistoryFilter{CustomerID: r.ClientID, Since: r.Since, Limit: 1000, Cursor: cursor})
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			} else if err != nil {
				return nil, err
			}
			for _, e := range page {
				if r.Event == "" || e.Event == r.Event {
					refs = append(refs, e.Seq)
				}
			}
			cursor = next
		} else {
			page, next, err := d.f.db.FindLogEntries(ctx, store.LogFilter{Status: store.StatusProcessed, Event: r.Event, ClientID: r.ClientID, Since: r.Since, Limit: 1000, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			for _, ev := range page {
				if d.filter.Keep(ev.Event, ev.Test) {
					refs = append(refs, ev.ID)
				}
			}
			cursor = next
		}
		if len(refs) > most {
			return nil, ErrTooMany
		}
		if cursor == "" {
			slices.Reverse(refs)
			return refs, nil
		}
	}
}
