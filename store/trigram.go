package store

import (
	"slices"
	"sort"
)

// trigramIndex maps every three-byte sequence of the customers' search
// strings to the customers holding it, so that a search for a rare text
// (an email, a VAT or phone number) looks at a handful of candidates
// instead of scanning every customer. It is part of customerIndex and
// guarded by its lock.
//
// Customers occupy slots, and posting lists hold slots in ascending order.
// A changed customer gets a new slot and its old slot is left dead (nil),
// so that lists only ever grow at the end; they are rebuilt once dead slots
// outnumber live ones.
type trigramIndex struct {
	refs []*customerRef // by slot; nil when dead
	// lists holds the posting lists, ids a trigram's place in it: one map
	// look-up per trigram and customer instead of a read and a write.
	ids   map[uint32]int32
	lists [][]int32
	dead  int
}

func newTrigramIndex() *trigramIndex {
	return &trigramIndex{ids: map[uint32]int32{}}
}

// postings returns the slots holding trigram g.
func (t *trigramIndex) postings(g uint32) []int32 {
	if i, ok := t.ids[g]; ok {
		return t.lists[i]
	}
	return nil
}

// trigrams appends the distinct trigrams of s to dst, sorted.
func trigrams(dst []uint32, s string) []uint32 {
	for i := 0; i+3 <= len(s); i++ {
		dst = append(dst, uint32(s[i])<<16|uint32(s[i+1])<<8|uint32(s[i+2]))
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

func (t *trigramIndex) add(r *customerRef) {
	slot := int32(len(t.refs))
	r.slot = slot
	t.refs = append(t.refs, r)
	s := r.haystack
	for i := 0; i+3 <= len(s); i++ {
		g := uint32(s[i])<<16 | uint32(s[i+1])<<8 | uint32(s[i+2])
		id, ok := t.ids[g]
		if !ok {
			id = int32(len(t.lists))
			t.ids[g] = id
			t.lists = append(t.lists, nil)
		}
		// A trigram seen before in s already ends its list with slot.
		if l := t.lists[id]; len(l) == 0 || l[len(l)-1] != slot {
			t.lists[id] = append(l, slot)
		}
	}
}

func (t *trigramIndex) remove(r *customerRef) {
	if int(r.slot) >= len(t.refs) || t.refs[r.slot] != r {
		return
	}
	t.refs[r.slot] = nil
	t.dead++
	if live := len(t.refs) - t.dead; t.dead > 4096 && t.dead > live {
		t.rebuild()
	}
}

// rebuild drops the dead slots.
func (t *trigramIndex) rebuild() {
	old := t.refs
	t.refs, t.ids, t.lists, t.dead = nil, map[uint32]int32{}, nil, 0
	for _, r := range old {
		if r != nil {
			t.add(r)
		}
	}
}

// candidates returns the live customers whose search string holds every
// trigram of q (a superset of those containing q), or ok false when q is
// shorter than three bytes or more than max customers would qualify.
func (t *trigramIndex) candidates(q string, max int) (refs []*customerRef, ok bool) {
	if len(q) < 3 {
		return nil, false
	}
	grams := trigrams(nil, q)
	lists := make([][]int32, 0, len(grams))
	for _, g := range grams {
		l := t.postings(g)
		if len(l) == 0 {
			return nil, true
		}
		lists = append(lists, l)
	}
	sort.Slice(lists, func(i, j int) bool { return len(lists[i]) < len(lists[j]) })
	slots := lists[0]
	if len(slots) > 4*max {
		// Too common to be worth intersecting.
		return nil, false
	}
	slots = slices.Clone(slots)
	for _, l := range lists[1:] {
		slots = intersect(slots, l)
		if len(slots) == 0 {
			return nil, true
		}
	}
	if len(slots) > max {
		return nil, false
	}
	for _, s := range slots {
		if r := t.refs[s]; r != nil {
			refs = append(refs, r)
		}
	}
	return refs, true
}

// intersect keeps the slots of a (ascending) that are in b (ascending),
// searching b with galloping steps since a is usually much shorter.
func intersect(a, b []int32) []int32 {
	out := a[:0]
	j := 0
	for _, x := range a {
		// Gallop to a window of b that may hold x, then bisect it.
		step := 1
		for j+step < len(b) && b[j+step] < x {
			j += step
			step *= 2
		}
		hi := min(j+step+1, len(b))
		j += sort.Search(hi-j, func(k int) bool { return b[j+k] >= x })
		if j == len(b) {
			break
		}
		if b[j] == x {
			out = append(out, x)
		}
	}
	return out
}
