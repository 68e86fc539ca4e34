package store

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// TestCustomerIndexPutAll applies random batches (repeated ids, renames,
// changes that keep the name) one by one and in batches of every size, and
// checks the sorted list and the trigram index against the customers.
func TestCustomerIndexPutAll(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, batchSize := range []int{1, 3, 15, 16, 17, 100} {
		idx := &customerIndex{byID: map[string]*customerRef{}, grams: newTrigramIndex()}
		want := map[string]*Customer{}
		for round := 0; round < 40; round++ {
			batch := make([]*Customer, 0, batchSize)
			for range batchSize {
				id := fmt.Sprint(rng.Intn(60))
				email := fmt.Sprintf("c%d@example.com", rng.Intn(4))
				c := &Customer{ID: id, Name: fmt.Sprintf("Name %d", rng.Intn(8)), Email: &email, IsActive: rng.Intn(2) == 0}
				batch = append(batch, c)
				want[id] = c
			}
			idx.putAll(batch)
			checkIndex(t, idx, want)
		}
	}
}

func checkIndex(t *testing.T, idx *customerIndex, want map[string]*Customer) {
	t.Helper()
	if len(idx.sorted) != len(want) || len(idx.byID) != len(want) {
		t.Fatalf("got %d sorted, %d by id, want %d", len(idx.sorted), len(idx.byID), len(want))
	}
	if !slices.IsSortedFunc(idx.sorted, func(a, b *customerRef) int { return strings.Compare(a.sortKey, b.sortKey) }) {
		t.Fatal("sorted is not sorted")
	}
	for _, r := range idx.sorted {
		c := want[r.id]
		if c == nil || idx.byID[r.id] != r || r.gone || r.pending {
			t.Fatalf("ref %q: not the current one", r.id)
		}
		if w := newCustomerRef(c); w.sortKey != r.sortKey || w.haystack != r.haystack || w.active != r.active {
			t.Fatalf("ref %q: got %q, want %q", r.id, r.haystack, w.haystack)
		}
		if idx.grams.refs[r.slot] != r {
			t.Fatalf("ref %q: not live in the trigram index", r.id)
		}
		cands, ok := idx.grams.candidates(r.haystack[len(r.id)+1:], 1<<20)
		if ok && !slices.Contains(cands, r) {
			t.Fatalf("ref %q: not a candidate for its own text", r.id)
		}
	}
}
