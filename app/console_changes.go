package app

import (
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/robaws-edge/robaws-edge/store"
)

// changesView is GET /changes' data.
type changesView struct {
	Changes []*store.HistoryEntry
	// Field, Since and Test are the form's values; Fields the choices.
	Field, Since string
	Test         bool
	Fields       []string
	// Next is the older page's URL; WeekAgo the date a week ago, for the
	// "role changes this week" link.
	Next, WeekAgo string
}

func (changesView) template() string { return "changes" }

// handleChanges answers GET /changes: history across customers, by field
// and date.
func (cs *console) handleChanges(c *fiber.Ctx) error {
	f := store.HistoryFilter{Field: c.Query("field"), Cursor: c.Query("cursor"), Limit: pageSize, Test: c.Query("test") == testInclude}
	fields := store.ChangeFields()
	if f.Field != "" && !slices.Contains(fields, f.Field) {
		return badRequest("invalid field: want one of %s", strings.Join(fields, ", "))
	}
	var err error
	if f.Since, err = formTime("since", c.Query("since"), false); err != nil {
		return err
	}
	items, next, err := cs.h.db.FindHistory(c.UserContext(), f)
	if err != nil {
		return err
	}
	nextURL := nextPage("/changes", next, map[string]string{"field": f.Field, "since": c.Query("since"), "test": testForm(f.Test)})
	return cs.render(c, fiber.StatusOK, changesView{Changes: items, Field: f.Field, Since: c.Query("since"), Test: f.Test, Fields: fields,
		Next: nextURL, WeekAgo: cs.h.cfg.Now().AddDate(0, 0, -7).UTC().Format(time.DateOnly)})
}
