package search

import "slices"

// topK keeps the best k of the items pushed, in a heap whose root is the
// worst kept, so each push costs O(log k) and memory stays O(k).
type topK struct {
	items  []scored
	k      int
	better func(a, b scored) bool
}

// newTopK keeps the best k of at most n items.
func newTopK(k, n int, better func(a, b scored) bool) *topK {
	k = min(k, n)
	return &topK{items: make([]scored, 0, k), k: k, better: better}
}

func (t *topK) push(x scored) {
	if len(t.items) < t.k {
		t.items = append(t.items, x)
		t.up(len(t.items) - 1)
		return
	}
	if t.k > 0 && t.better(x, t.items[0]) {
		t.items[0] = x
		t.down(0)
	}
}

// up and down keep the worst item at the root.
func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.better(t.items[p], t.items[i]) {
			return
		}
		t.items[p], t.items[i] = t.items[i], t.items[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.items)
	for {
		w := i
		if l := 2*i + 1; l < n && t.better(t.items[w], t.items[l]) {
			w = l
		}
		if r := 2*i + 2; r < n && t.better(t.items[w], t.items[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.items[i], t.items[w] = t.items[w], t.items[i]
		i = w
	}
}

// sorted returns the kept items, best first.
func (t *topK) sorted() []scored {
	slices.SortFunc(t.items, func(a, b scored) int {
		if t.better(a, b) {
			return -1
		}
		if t.better(b, a) {
			return 1
		}
		return 0
	})
	return t.items
}
