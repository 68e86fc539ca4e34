package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robaws-edge/robaws-edge/store"
)

// TestFindCustomersSearch compares FindCustomers, walked page by page, with
// a plain scan over every customer, for texts rare and common, before and
// after enough updates to rebuild the trigram index (more dead slots than live ones, over
// 4096).
func TestFindCustomersSearch(t *testing.T) {
	db := openRetentionDB(t, store.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	cities := []string{"Gent", "Antwerpen", "Brussel", "Liège", "Aalst"}
	roles := []string{"", "ADMIN", "DRIVER"}
	all := map[string]*store.Customer{}
	make1 := func(id int, gen int) *store.Customer {
		email := fmt.Sprintf("user%d.%d@firm-%d.example", id, gen, rng.IntN(50))
		city := cities[rng.IntN(len(cities))]
		c := &store.Customer{ID: fmt.Sprint(id), Name: fmt.Sprintf("Firm %d %s", rng.IntN(400), city), Email: &email,
			Address: store.Address{City: &city}, Currency: "EUR", IsActive: rng.IntN(4) != 0,
			Version: time.Date(2026, 1, 1, 0, 0, gen, 0, time.UTC)}
		if r := roles[rng.IntN(len(roles))]; r != "" {
			c.Role = &r
		}
		return c
	}
	apply := func(cs []*store.Customer) {
		if _, _, _, err := db.ApplyCustomers(context.Background(), cs, store.SourceSync); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			all[c.ID] = c
		}
	}
	var batch []*store.Customer
	for i := range 1500 {
		batch = append(batch, make1(i, 0))
	}
	apply(batch)

	check := func(t *testing.T) {
		for _, f := range []store.CustomerFilter{
			{Q: "user17.0@"}, {Q: "USER17"}, {Q: "firm-7.example"}, {Q: "gent"}, {Q: "liège"}, {Q: "firm"},
			{Q: "zzz"}, {Q: "12"}, {Q: "g"}, {Q: "firm 3", Role: "admin"}, {Role: "driver"}, {Q: "aalst", Active: new(bool)},
			{Q: "user2999"}, {Q: "2999"},
		} {
			var want []string
			for _, c := range all {
				hay := strings.ToLower(strings.Join([]string{c.ID, c.Name, *c.Email, *c.Address.City}, "\x01"))
				role := ""
				if c.Role != nil {
					role = *c.Role
				}
				if strings.Contains(hay, strings.ToLower(f.Q)) && (f.Role == "" || role == strings.ToUpper(f.Role)) &&
					(f.Active == nil || c.IsActive == *f.Active) {
					want = append(want, strings.ToLower(c.Name)+"\x00"+c.ID)
				}
			}
			slices.Sort(want)
			for i := range want {
				_, want[i], _ = strings.Cut(want[i], "\x00")
			}
			var got []string
			f.Limit = 23
			for pages := 0; ; pages++ {
				cs, next, err := db.FindCustomers(context.Background(), f)
				if err != nil || pages > len(all) {
					t.Fatalf("%+v: %v", f, err)
				}
				for _, c := range cs {
					got = append(got, c.ID)
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("q=%q role=%q (-want +got):\n%s", f.Q, f.Role, diff)
			}
		}
	}
	t.Run("loaded", check)
	for gen := 1; gen <= 5; gen++ {
		batch = batch[:0]
		for i := range 1500 {
			if rng.IntN(3) != 0 {
				batch = append(batch, make1(i, gen))
			}
		}
		apply(batch)
	}
	t.Run("updated", check)
	path := db.Path()
	db.Close()
	db2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	db = db2
	t.Run("reopened", check)
}
