package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/google/go-cmp/cmp"
)

func fwdIDs(items []ForwardItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// TestEventsStream: processed deliveries in the order they became
// processed (a replay that turns a failed entry processed lands at the
// end), nothing else; the filter leaves out other events and test data.
func TestEventsStream(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ingest := func(d *Delivery) Result {
		t.Helper()
		if d.Payload == nil {
			d.Payload = []byte(`{"id":"` + d.EventID + `"}`)
		}
		res, err := db.Ingest(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	cust := func(id string, v time.Time) *Customer {
		return &Customer{ID: id, Name: "N" + id, Currency: "EUR", IsActive: true, Version: v}
	}
	ingest(&Delivery{Endpoint: "customers", Event: "client.created", EventID: "e1", ClientID: "1", Record: prepared(cust("1", base))})
	failed := ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e2", Status: StatusFailed, Error: "bad"})
	ingest(&Delivery{Endpoint: "customers", Event: "client.deleted", EventID: "e3", Status: StatusIgnored})
	ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e4", ClientID: "1", Record: prepared(cust("1", base.Add(-time.Hour)))}) // stale
	ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e5", ClientID: "TEST-1", Record: prepared(cust("TEST-1", base))})
	ingest(&Delivery{Endpoint: "articles", Event: "article.updated", EventID: "e6"})
	ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e1", ClientID: "1", Record: prepared(cust("1", base))}) // duplicate
	ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e7", Status: StatusRejected, Error: "signature mismatch"})
	// The failed entry, replayed and now processed.
	if res := ingest(&Delivery{Endpoint: "customers", Event: "client.updated", EventID: "e2", ClientID: "2", Record: prepared(cust("2", base)),
		Source: SourceReplay, ReplayOf: failed.LogID}); res.Status != StatusProcessed {
		t.Fatalf("replay: %+v", res)
	}

	all, last, err := db.ReadForward(ctx, StreamEvents, 0, 100, ForwardFilter{IncludeTest: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"customers:e1", "customers:e5", "articles:e6", "customers:e2"}; !slices.Equal(fwdIDs(all), want) {
		t.Fatalf("events stream = %v, want %v", fwdIDs(all), want)
	}
	if last != 4 || all[3].Seq != 4 || *all[3].LogID != failed.LogID || string(all[0].Body) != `{"id":"e1"}` {
		t.Fatalf("last = %d, item 4 = %+v", last, all[3])
	}
	some, last, err := db.ReadForward(ctx, StreamEvents, 0, 100, ForwardFilter{Events: []string{"client.updated", "client.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"customers:e1", "customers:e2"}; !slices.Equal(fwdIDs(some), want) || last != 4 {
		t.Fatalf("filtered = %v (last %d), want %v (last 4)", fwdIDs(some), last, want)
	}
	n, oldest, end, err := db.ForwardPending(ctx, StreamEvents, 1, ForwardFilter{})
	// e5 is test data: the oldest pending one is e6.
	if err != nil || n != 2 || end != 4 || !oldest.Equal(all[2].At) {
		t.Fatalf("pending after 1 = %d, %v, end %d, %v; want 2 from %v, end 4", n, oldest, end, err, all[2].At)
	}
	// Paging: max 2 from position 1.
	page, last, err := db.ReadForward(ctx, StreamEvents, 1, 2, ForwardFilter{IncludeTest: true})
	if err != nil || !slices.Equal(fwdIDs(page), []string{"customers:e5", "articles:e6"}) || last != 3 {
		t.Fatalf("page = %v, last %d, %v", fwdIDs(page), last, err)
	}
}

// TestChangesStream: every history entry as an item whose customer is the
// record as that change left it, with ids derived from what it is.
func TestChangesStream(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var want []Customer // the record after each change, as the API shows it
	snap := func(id string) {
		c, err := db.FindCustomerByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c.Raw = nil
		want = append(want, *c)
	}
	str := func(s string) *string { return &s }
	c1 := &Customer{ID: "7", Name: "Dupont", Email: str("a@b.be"), Currency: "EUR", IsActive: true, Version: base}
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "ev1", ClientID: "7", Record: prepared(c1)}); err != nil {
		t.Fatal(err)
	}
	snap("7")
	other := &Customer{ID: "8", Name: "Other", Currency: "EUR", IsActive: true, Version: base}
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.created", EventID: "ev2", ClientID: "8", Record: prepared(other)}); err != nil {
		t.Fatal(err)
	}
	snap("8")
	c2 := *c1
	c2.Name, c2.Role, c2.Address.City, c2.Version = "Dupont SA", str("CUSTOMER"), str("Gent"), base.Add(time.Hour)
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "ev3", ClientID: "7", Record: prepared(&c2)}); err != nil {
		t.Fatal(err)
	}
	snap("7")
	c3 := c2
	c3.Email, c3.IsActive, c3.Version = nil, false, base.Add(2*time.Hour)
	if _, _, _, err := db.ApplyCustomers(ctx, []*Customer{&c3}, SourceSync); err != nil {
		t.Fatal(err)
	}
	snap("7")
	// A webhook that changes nothing writes no history and no item.
	c4 := c3
	c4.Version = base.Add(3 * time.Hour)
	if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: "ev4", ClientID: "7", Record: prepared(&c4)}); err != nil {
		t.Fatal(err)
	}

	items, last, err := db.ReadForward(ctx, StreamChanges, 0, 100, ForwardFilter{})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"change:customers:ev1", "change:customers:ev2", "change:customers:ev3",
		"change:sync:7:" + base.Add(2*time.Hour).Format(time.RFC3339Nano)}
	if !slices.Equal(fwdIDs(items), wantIDs) || last != 4 {
		t.Fatalf("changes = %v (last %d), want %v", fwdIDs(items), last, wantIDs)
	}
	for i, it := range items {
		var got ChangeItem
		if err := json.Unmarshal(it.Body, &got); err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := json.Marshal(want[i])
		gotJSON, _ := json.Marshal(got.Customer)
		if diff := cmp.Diff(string(wantJSON), string(gotJSON)); diff != "" {
			t.Errorf("item %d customer (-want +got):\n%s", i, diff)
		}
		if got.Seq != it.Seq || it.Event != "customer.changed" {
			t.Errorf("item %d: seq %d, event %s", i, got.Seq, it.Event)
		}
	}
	var sync ChangeItem
	if err := json.Unmarshal(items[3].Body, &sync); err != nil {
		t.Fatal(err)
	}
	if sync.EventID != nil || sync.LogID != nil || sync.Source != SourceSync || items[3].Endpoint != "sync" || items[3].LogID != nil {
		t.Fatalf("sync item: %+v %+v", sync, items[3])
	}
	if _, ok := sync.Changes["email"]; !ok || sync.Changes["is_active"].To != false {
		t.Fatalf("sync changes = %v", sync.Changes)
	}
	// Loaded one at a time (a re-sent item) it is the same.
	one, err := db.LoadForward(ctx, StreamChanges, []uint64{3}, true)
	if err != nil || len(one) != 1 || string(one[0].Body) != string(items[2].Body) {
		t.Fatalf("LoadForward(3) = %v, %v", one, err)
	}
}

// TestForwardState: a new destination starts at the end (or the
// beginning), dead items and the queue, and retention keeps what a
// destination has not delivered.
func TestForwardState(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	for i := range 4 {
		c := &Customer{ID: fmt.Sprint(i), Name: "x", Currency: "EUR", IsActive: true, Version: old}
		if _, err := db.Ingest(ctx, &Delivery{Endpoint: "customers", Event: "client.updated", EventID: fmt.Sprint("e", i),
			ClientID: c.ID, Record: prepared(c), ReceivedAt: old, Payload: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	dropped, err := db.InitForward(ctx, []ForwardDestination{{Name: "now", Stream: StreamEvents}, {Name: "all", Stream: StreamEvents, Beginning: true}, {Name: "gone", Stream: StreamChanges}})
	if err != nil || len(dropped) != 0 {
		t.Fatal(dropped, err)
	}
	if st, _ := db.FindForwardState(ctx, "now"); st.Cursor != 4 {
		t.Fatalf("start now: cursor %d, want 4", st.Cursor)
	}
	if st, _ := db.FindForwardState(ctx, "all"); st.Cursor != 0 {
		t.Fatalf("start beginning: cursor %d, want 0", st.Cursor)
	}
	if dropped, err = db.InitForward(ctx, []ForwardDestination{{Name: "now", Stream: StreamEvents}, {Name: "all", Stream: StreamEvents, Beginning: true}}); err != nil || !slices.Equal(dropped, []string{"gone"}) {
		t.Fatalf("dropped = %v, %v", dropped, err)
	}
	// "all" delivered item 1 and set item 2 aside as dead.
	logID := uint64(2)
	if err := db.UpdateForward(ctx, "all", ForwardUpdate{State: &ForwardState{Stream: StreamEvents, Cursor: 2, Delivered: 1},
		Dead: &ForwardDead{ItemID: "customers:e1", Ref: 2, LogID: &logID, DeadAt: time.Now(), Attempts: 3, LastStatusCode: 422}}); err != nil {
		t.Fatal(err)
	}
	dead, err := db.FindForwardDead(ctx, "all")
	if err != nil || len(dead) != 1 || dead[0].LastStatusCode != 422 {
		t.Fatalf("dead = %+v, %v", dead, err)
	}
	// Retention keeps entries 3 and 4 ("all" has not delivered them).
	deleted, held, err := db.PruneEvents(ctx, time.Hour)
	if err != nil || deleted != 2 || held != 2 {
		t.Fatalf("prune = %d deleted, %d held, %v; want 2, 2", deleted, held, err)
	}
	items, _, err := db.ReadForward(ctx, StreamEvents, 2, 10, ForwardFilter{})
	if err != nil || !slices.Equal(fwdIDs(items), []string{"customers:e2", "customers:e3"}) {
		t.Fatalf("after prune = %v, %v", fwdIDs(items), err)
	}
	// The dead item's entry is pruned: retention drops it with its entry.
	if dead, _ := db.FindForwardDead(ctx, "all"); len(dead) != 0 {
		t.Fatalf("dead after its entry was pruned = %+v", dead)
	}
	// Resend entry 3: queued after position 4.
	n, err := db.QueueForward(ctx, "all", []uint64{3}, true)
	if err != nil || n != 1 {
		t.Fatalf("queued %d, %v", n, err)
	}
	q, err := db.FindForwardQueue(ctx, "all")
	if err != nil || len(q) != 1 || q[0].After != 4 || q[0].Ref != 3 {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	loaded, err := db.LoadForward(ctx, StreamEvents, []uint64{3, 2}, true)
	if err != nil || loaded[0] == nil || loaded[0].ID != "customers:e2" || loaded[1] != nil {
		t.Fatalf("loaded = %+v, %v (the pruned one is nil)", loaded, err)
	}
	if err := db.UpdateForward(ctx, "all", ForwardUpdate{Dequeue: q[0].Key}); err != nil {
		t.Fatal(err)
	}
	if q, _ := db.FindForwardQueue(ctx, "all"); len(q) != 0 {
		t.Fatalf("queue after dequeue = %+v", q)
	}
	if err := db.SetForwardPaused(ctx, "now", true); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.FindForwardState(ctx, "now"); !st.Paused {
		t.Fatal("pause not kept")
	}
	// A cursor save racing the pause (its state read before) keeps it.
	if err := db.UpdateForward(ctx, "now", ForwardUpdate{State: &ForwardState{Stream: StreamEvents, Cursor: 4, Delivered: 1}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.FindForwardState(ctx, "now"); !st.Paused || st.Delivered != 1 {
		t.Fatalf("after a cursor save: %+v, want paused with delivered 1", st)
	}
}
