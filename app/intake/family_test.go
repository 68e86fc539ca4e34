package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/robaws-edge/robaws-edge/app/customer"
	"github.com/robaws-edge/robaws-edge/app/intake"
	"github.com/robaws-edge/robaws-edge/store"
)

// The seam for event families, proven by a family that exists only here:
// "articles" keeps a title per article. It is a mapper (prepareArticle), a
// store.Family (articles) and a row in the receiver's table, and its
// deliveries go through de-duplication, the version rule and the history
// without a line of customer code.

// article is the test family's record.
type article struct {
	Title   string    `json:"title"`
	Version time.Time `json:"version"`
	EventID string    `json:"event_id"`
	Head    uint64    `json:"head"`
}

var articles = &store.Family{Name: "articles", Bucket: []byte("test_articles"), History: []byte("test_articles_history"),
	Apply: func(a *store.Apply) error {
		in := a.Record.Value.(article)
		var old *article
		if v, err := a.Stored(); err != nil {
			return err
		} else if v != nil {
			old = new(article)
			if err := json.Unmarshal(v, old); err != nil {
				return err
			}
			if a.Stale(old.Version, old.EventID) {
				a.Status = store.StatusStale
				return nil
			}
			in.Head = old.Head
		}
		a.Status = store.StatusProcessed
		if old == nil || old.Title != in.Title {
			from := any(nil)
			if old != nil {
				from = old.Title
			}
			head, err := a.AddHistory(in.Head, map[string]store.Change{"title": {From: from, To: in.Title}})
			if err != nil {
				return err
			}
			in.Head = head
		}
		in.EventID = a.Prov.EventID
		v, err := json.Marshal(in)
		if err != nil {
			return err
		}
		return a.Put(v)
	}}

func prepareArticle(data []byte, t int64) (*store.Record, error) {
	var d struct {
		ID        string    `json:"id"`
		Title     string    `json:"title"`
		UpdatedAt time.Time `json:"updatedAt"`
	}
	if err := json.Unmarshal(data, &d); err != nil || d.ID == "" {
		return nil, fmt.Errorf("data.id missing")
	}
	return &store.Record{Family: articles, Key: d.ID, Version: d.UpdatedAt, Value: article{Title: d.Title, Version: d.UpdatedAt}}, nil
}

func TestSecondFamily(t *testing.T) {
	db := MustOpenDB(t, "", store.Options{})
	r := MustReceiver(t, db, time.Time{}, func(c *intake.Config) {
		c.Families = []intake.Family{intake.CustomersFamily(customer.Mapping{}),
			{Name: "articles", Events: []string{"article.updated"}, Prepare: prepareArticle}}
	})
	now := time.Now()
	send := func(eventID, id, title string, at time.Time) intake.Outcome {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q,"event":"article.updated","data":{"id":%q,"title":%q,"updatedAt":%q}}`, eventID, id, title, at.UTC().Format(time.RFC3339))
		o, err := receive(t, r, "articles", body, intake.Sign("articles-secret", now.Unix(), body))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	base := now.Add(-time.Hour)
	steps := []struct {
		eventID, id, title string
		at                 time.Time
		want               string
	}{
		{"a1", "ART-1", "Pallet", base, store.StatusProcessed},
		{"a1", "ART-1", "Pallet", base, store.StatusDuplicate},                            // Robaws retried
		{"a2", "ART-1", "Pallet, blue", base.Add(time.Minute), store.StatusProcessed},     // newer
		{"a3", "ART-1", "Pallet, red", base.Add(-time.Minute), store.StatusStale},         // older: not applied
		{"a4", "ART-1", "Pallet, blue", base.Add(2 * time.Minute), store.StatusProcessed}, // newer, no change
		{"a5", "ART-2", "Crate", base, store.StatusProcessed},
	}
	for _, s := range steps {
		if o := send(s.eventID, s.id, s.title, s.at); o.Status != s.want {
			t.Fatalf("%s: %s, want %s", s.eventID, o.Status, s.want)
		}
	}
	hist, err := db.FindFamilyHistory(context.Background(), articles)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range hist {
		got = append(got, fmt.Sprintf("%s %v->%v %s", e.CustomerID, e.Changes["title"].From, e.Changes["title"].To, e.Event))
	}
	want := []string{"ART-1 <nil>->Pallet article.updated", "ART-1 Pallet->Pallet, blue article.updated", "ART-2 <nil>->Crate article.updated"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history = %q, want %q", got, want)
	}
	// Nothing reached the customers: no customer, no customer history.
	if list, _, err := db.FindCustomers(context.Background(), store.CustomerFilter{Test: true}); err != nil || len(list) != 0 {
		t.Fatalf("customers = %v, %v", list, err)
	}
	if h, _, err := db.FindHistory(context.Background(), store.HistoryFilter{}); err != nil || len(h) != 0 {
		t.Fatalf("customer history = %v, %v", h, err)
	}
}
