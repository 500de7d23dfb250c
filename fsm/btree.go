package fsm

import (
	"cmp"
	"slices"
)

// btree is a persistent B+ tree: an ordered map whose versions share every
// node they have in common. A btree value never changes once built; writes
// go through a btreeTxn, which copies the nodes on the paths it changes and
// returns a new btree on commit.
//
// It holds the state's largest tables. Unlike go-immutable-radix, which the
// small tables use, it keeps no watch channel per node and stores keys as
// they are (a uint64 or a string, not a byte copy per entry), and a node
// holds up to btreeMax entries, so an entry costs little more than its key
// and value.
type btree[K cmp.Ordered, V any] struct {
	root *bnode[K, V]
	size int
}

// btreeMax is the most entries a leaf, or children an inner node, holds.
// Below btreeMin a node that has a sibling borrows from it or merges with
// it; only the rightmost nodes, filled by appends, may hold fewer.
const (
	btreeMax = 32
	btreeMin = btreeMax / 2
)

// bnode is a node of a btree. A leaf holds keys and vals, sorted by key. An
// inner node holds kids and len(kids)-1 separators in keys: every key under
// kids[i+1] is at least keys[i], every key under kids[i] is below it.
type bnode[K cmp.Ordered, V any] struct {
	// owner is the transaction that created the node; only that
	// transaction, and only until it commits, changes the node in place.
	owner *btreeOwner
	keys  []K
	vals  []V
	kids  []*bnode[K, V]
}

// btreeOwner identifies one transaction's nodes. It is not empty so that
// every allocation of it has its own address.
type btreeOwner struct{ _ byte }

func (n *bnode[K, V]) leaf() bool { return n.kids == nil }

// count is how many entries (leaf) or children (inner node) n holds.
func (n *bnode[K, V]) count() int {
	if n.leaf() {
		return len(n.keys)
	}
	return len(n.kids)
}

// childIndex returns which child of an inner node with separators keys
// holds k.
func childIndex[K cmp.Ordered](keys []K, k K) int {
	i, found := slices.BinarySearch(keys, k)
	if found {
		i++
	}
	return i
}

// Len returns how many entries the tree holds.
func (t btree[K, V]) Len() int { return t.size }

// get returns the value stored under k.
func (t btree[K, V]) get(k K) (V, bool) {
	n := t.root
	if n == nil {
		var zero V
		return zero, false
	}
	for !n.leaf() {
		n = n.kids[childIndex(n.keys, k)]
	}
	if i, found := slices.BinarySearch(n.keys, k); found {
		return n.vals[i], true
	}
	var zero V
	return zero, false
}

// walk calls fn on every entry in key order until fn returns true.
func (t btree[K, V]) walk(fn func(k K, v V) bool) {
	if t.root != nil {
		t.root.walk(fn)
	}
}

func (n *bnode[K, V]) walk(fn func(k K, v V) bool) bool {
	if n.leaf() {
		for i, k := range n.keys {
			if fn(k, n.vals[i]) {
				return true
			}
		}
		return false
	}
	for _, c := range n.kids {
		if c.walk(fn) {
			return true
		}
	}
	return false
}

// btreeTxn is a write transaction over a btree, started with btree.txn;
// the zero value writes to an empty tree. It costs nothing until its first
// write.
// It is not safe for concurrent use, but the btree it started from, and
// every btree it committed, may be read concurrently with it.
type btreeTxn[K cmp.Ordered, V any] struct {
	tree  btree[K, V]
	owner *btreeOwner
}

// txn starts a write transaction over t.
func (t btree[K, V]) txn() btreeTxn[K, V] { return btreeTxn[K, V]{tree: t} }

// get returns the value stored under k, seeing the transaction's writes.
func (x *btreeTxn[K, V]) get(k K) (V, bool) { return x.tree.get(k) }

// commit returns the tree as written so far. The transaction may go on
// writing: it no longer changes any node the returned tree holds.
func (x *btreeTxn[K, V]) commit() btree[K, V] {
	x.owner = nil
	return x.tree
}

// own returns the mark of the nodes x may change in place.
func (x *btreeTxn[K, V]) own() *btreeOwner {
	if x.owner == nil {
		x.owner = new(btreeOwner)
	}
	return x.owner
}

// mut returns n if x may change it in place, else a copy that x owns.
func (x *btreeTxn[K, V]) mut(n *bnode[K, V]) *bnode[K, V] {
	if n.owner == x.own() {
		return n
	}
	c := &bnode[K, V]{owner: x.owner, keys: slices.Clone(n.keys)}
	if n.leaf() {
		c.vals = slices.Clone(n.vals)
	} else {
		c.kids = slices.Clone(n.kids)
	}
	return c
}

// put stores v under k, replacing any value stored there.
func (x *btreeTxn[K, V]) put(k K, v V) {
	if x.tree.root == nil {
		x.tree.root = &bnode[K, V]{owner: x.own(), keys: []K{k}, vals: []V{v}}
		x.tree.size = 1
		return
	}
	root := x.mut(x.tree.root)
	sep, right, added := x.insert(root, k, v, true)
	if right != nil {
		root = &bnode[K, V]{owner: x.owner, keys: []K{sep}, kids: []*bnode[K, V]{root, right}}
	}
	x.tree.root = root
	if added {
		x.tree.size++
	}
}

// insert stores v under k in the subtree of n, which x owns; rightmost says
// whether n is the last node of its level. If n had to split, insert
// returns the new right half and the least key under it, for the parent to
// add. Appends at the end of the tree, as ascending ids arrive, leave the
// left half full rather than split it in two, so that an ascending load
// fills the nodes.
func (x *btreeTxn[K, V]) insert(n *bnode[K, V], k K, v V, rightmost bool) (sep K, right *bnode[K, V], added bool) {
	if n.leaf() {
		i, found := slices.BinarySearch(n.keys, k)
		if found {
			n.vals[i] = v
			return sep, nil, false
		}
		if len(n.keys) < btreeMax {
			n.keys = insertAt(n.keys, i, k)
			n.vals = insertAt(n.vals, i, v)
			return sep, nil, true
		}
		if rightmost && i == len(n.keys) {
			right = &bnode[K, V]{owner: x.owner, keys: []K{k}, vals: []V{v}}
			return k, right, true
		}
		const mid = btreeMax / 2
		right = &bnode[K, V]{owner: x.owner, keys: splitOff(&n.keys, mid), vals: splitOff(&n.vals, mid)}
		if i <= mid {
			n.keys = insertAt(n.keys, i, k)
			n.vals = insertAt(n.vals, i, v)
		} else {
			right.keys = insertAt(right.keys, i-mid, k)
			right.vals = insertAt(right.vals, i-mid, v)
		}
		return right.keys[0], right, true
	}

	i := childIndex(n.keys, k)
	c := x.mut(n.kids[i])
	n.kids[i] = c
	s, r, added := x.insert(c, k, v, rightmost && i == len(n.kids)-1)
	if r == nil {
		return sep, nil, added
	}
	// r goes right of c: separator s at keys[i], child r at kids[i+1].
	if len(n.kids) < btreeMax {
		n.keys = insertAt(n.keys, i, s)
		n.kids = insertAt(n.kids, i+1, r)
		return sep, nil, added
	}
	if rightmost && i == len(n.kids)-1 {
		// The new right node takes c and r; the separator left of c
		// goes up.
		last := len(n.kids) - 1
		right = &bnode[K, V]{owner: x.owner, keys: []K{s}, kids: []*bnode[K, V]{c, r}}
		sep = n.keys[last-1]
		n.kids[last] = nil
		n.kids = n.kids[:last]
		var zero K
		n.keys[last-1] = zero
		n.keys = n.keys[:last-1]
		return sep, right, added
	}
	// Split at child mid: kids[:mid] stay, keys[mid-1] goes up, the rest
	// moves right.
	const mid = btreeMax / 2
	right = &bnode[K, V]{owner: x.owner, keys: splitOff(&n.keys, mid), kids: splitOff(&n.kids, mid)}
	sep = n.keys[mid-1]
	var zero K
	n.keys[mid-1] = zero
	n.keys = n.keys[:mid-1]
	if i < mid {
		n.keys = insertAt(n.keys, i, s)
		n.kids = insertAt(n.kids, i+1, r)
	} else {
		right.keys = insertAt(right.keys, i-mid, s)
		right.kids = insertAt(right.kids, i-mid+1, r)
	}
	return sep, right, added
}

// del removes k and reports whether it was there.
func (x *btreeTxn[K, V]) del(k K) bool {
	if _, ok := x.tree.get(k); !ok {
		return false
	}
	root := x.mut(x.tree.root)
	x.remove(root, k)
	x.tree.size--
	switch {
	case root.leaf() && len(root.keys) == 0:
		root = nil
	case !root.leaf() && len(root.kids) == 1:
		root = root.kids[0]
	}
	x.tree.root = root
	return true
}

// remove deletes k, which is stored, from the subtree of n, which x owns.
func (x *btreeTxn[K, V]) remove(n *bnode[K, V], k K) {
	if n.leaf() {
		i, _ := slices.BinarySearch(n.keys, k)
		n.keys = slices.Delete(n.keys, i, i+1)
		n.vals = slices.Delete(n.vals, i, i+1)
		return
	}
	i := childIndex(n.keys, k)
	c := x.mut(n.kids[i])
	n.kids[i] = c
	x.remove(c, k)
	if c.count() < btreeMin && len(n.kids) > 1 {
		x.refill(n, i)
	}
}

// refill brings n.kids[i], which x owns and which has too few entries, back
// to size: it borrows one entry from a sibling that can spare one, or else
// merges with a sibling.
func (x *btreeTxn[K, V]) refill(n *bnode[K, V], i int) {
	c := n.kids[i]
	if i > 0 && n.kids[i-1].count() > btreeMin {
		l := x.mut(n.kids[i-1])
		n.kids[i-1] = l
		if c.leaf() {
			last := len(l.keys) - 1
			c.keys = insertAt(c.keys, 0, l.keys[last])
			c.vals = insertAt(c.vals, 0, l.vals[last])
			l.keys = slices.Delete(l.keys, last, last+1)
			l.vals = slices.Delete(l.vals, last, last+1)
			n.keys[i-1] = c.keys[0]
			return
		}
		last := len(l.kids) - 1
		c.keys = insertAt(c.keys, 0, n.keys[i-1])
		c.kids = insertAt(c.kids, 0, l.kids[last])
		n.keys[i-1] = l.keys[last-1]
		l.keys = slices.Delete(l.keys, last-1, last)
		l.kids = slices.Delete(l.kids, last, last+1)
		return
	}
	if i+1 < len(n.kids) && n.kids[i+1].count() > btreeMin {
		r := x.mut(n.kids[i+1])
		n.kids[i+1] = r
		if c.leaf() {
			c.keys = insertAt(c.keys, len(c.keys), r.keys[0])
			c.vals = insertAt(c.vals, len(c.vals), r.vals[0])
			r.keys = slices.Delete(r.keys, 0, 1)
			r.vals = slices.Delete(r.vals, 0, 1)
			n.keys[i] = r.keys[0]
			return
		}
		c.keys = insertAt(c.keys, len(c.keys), n.keys[i])
		c.kids = insertAt(c.kids, len(c.kids), r.kids[0])
		n.keys[i] = r.keys[0]
		r.keys = slices.Delete(r.keys, 0, 1)
		r.kids = slices.Delete(r.kids, 0, 1)
		return
	}
	// Neither sibling can spare an entry, so c and one of them together
	// hold fewer than btreeMax: merge the right one into the left one.
	if i == 0 {
		i++ // merge kids[1] into c
	}
	l := x.mut(n.kids[i-1])
	r := n.kids[i]
	if l.leaf() {
		l.keys = append(l.keys, r.keys...)
		l.vals = append(l.vals, r.vals...)
	} else {
		l.keys = append(append(l.keys, n.keys[i-1]), r.keys...)
		l.kids = append(l.kids, r.kids...)
	}
	n.kids[i-1] = l
	n.keys = slices.Delete(n.keys, i-1, i)
	n.kids = slices.Delete(n.kids, i, i+1)
}

// insertAt inserts v at s[i], growing s, which holds fewer than btreeMax
// elements, by at most doubling it and never beyond btreeMax.
func insertAt[T any](s []T, i int, v T) []T {
	if len(s) == cap(s) {
		grown := make([]T, len(s), max(len(s)+1, min(btreeMax, max(4, 2*len(s)))))
		copy(grown, s)
		s = grown
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// splitOff moves (*s)[at:] into a new slice with room for one more element
// and returns it; *s keeps its array, cleared past at.
func splitOff[T any](s *[]T, at int) []T {
	tail := (*s)[at:]
	out := make([]T, len(tail), len(tail)+1)
	copy(out, tail)
	clear(tail)
	*s = (*s)[:at]
	return out
}
