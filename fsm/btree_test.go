package fsm

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// checkTree verifies a btree's structure: every leaf at the same depth,
// keys strictly ascending across the whole tree, separators that bound
// their subtrees, no node over btreeMax, no empty node, inner nodes with at
// least two children, and at least btreeMin in every node but the root and
// the last node of each level. It returns the entries in order.
func checkTree[K cmp.Ordered, V any](t *testing.T, tr btree[K, V]) ([]K, []V) {
	t.Helper()
	var keys []K
	var vals []V
	leafDepth := -1
	var visit func(n *bnode[K, V], depth int, lo, hi *K, rightmost bool)
	visit = func(n *bnode[K, V], depth int, lo, hi *K, rightmost bool) {
		root := depth == 0
		if n.count() > btreeMax {
			t.Fatalf("node at depth %d holds %d > %d", depth, n.count(), btreeMax)
		}
		if !root && !rightmost && n.count() < btreeMin {
			t.Fatalf("node at depth %d, not the last of its level, holds %d < %d", depth, n.count(), btreeMin)
		}
		for _, k := range n.keys {
			if lo != nil && k < *lo || hi != nil && k >= *hi {
				t.Fatalf("key %v at depth %d outside its bounds", k, depth)
			}
		}
		if n.leaf() {
			if len(n.keys) == 0 {
				t.Fatalf("empty leaf at depth %d", depth)
			}
			if len(n.vals) != len(n.keys) {
				t.Fatalf("leaf with %d keys and %d values", len(n.keys), len(n.vals))
			}
			if leafDepth == -1 {
				leafDepth = depth
			} else if depth != leafDepth {
				t.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
			keys = append(keys, n.keys...)
			vals = append(vals, n.vals...)
			return
		}
		if n.vals != nil {
			t.Fatalf("inner node at depth %d holds values", depth)
		}
		if len(n.kids) < 2 || len(n.keys) != len(n.kids)-1 {
			t.Fatalf("inner node at depth %d with %d children and %d separators", depth, len(n.kids), len(n.keys))
		}
		for i, c := range n.kids {
			clo, chi := lo, hi
			if i > 0 {
				clo = &n.keys[i-1]
			}
			if i < len(n.keys) {
				chi = &n.keys[i]
			}
			visit(c, depth+1, clo, chi, rightmost && i == len(n.kids)-1)
		}
	}
	if tr.root != nil {
		visit(tr.root, 0, nil, nil, true)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("keys out of order: %v then %v", keys[i-1], keys[i])
		}
	}
	if len(keys) != tr.Len() {
		t.Fatalf("Len() = %d, tree holds %d", tr.Len(), len(keys))
	}
	return keys, vals
}

// checkContents verifies that tr holds exactly want, through get, walk and
// the structure check.
func checkContents[K cmp.Ordered](t *testing.T, tr btree[K, int], want map[K]int) {
	t.Helper()
	keys, vals := checkTree(t, tr)
	wantKeys := slices.Sorted(maps.Keys(want))
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("tree keys = %v, want %v", keys, wantKeys)
	}
	for i, k := range keys {
		if vals[i] != want[k] {
			t.Fatalf("tree value of %v = %d, want %d", k, vals[i], want[k])
		}
		if v, ok := tr.get(k); !ok || v != want[k] {
			t.Fatalf("get(%v) = %d, %v, want %d", k, v, ok, want[k])
		}
	}
	var walked []K
	tr.walk(func(k K, v int) bool {
		walked = append(walked, k)
		return false
	})
	if !slices.Equal(walked, wantKeys) {
		t.Fatalf("walk visited %v, want %v", walked, wantKeys)
	}
}

// TestBtreeModel applies random puts and deletes in random transactions,
// in several key orders, and compares every committed version, old ones
// included, with a map.
func TestBtreeModel(t *testing.T) {
	orders := []struct {
		name string
		key  func(r *rand.Rand, step int) uint64
		del  float64 // share of deletes
	}{
		{"random small range", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(300) }, 0.4},
		{"random wide range", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(5000) }, 0.3},
		{"ascending", func(_ *rand.Rand, step int) uint64 { return uint64(step) }, 0},
		{"descending", func(_ *rand.Rand, step int) uint64 { return uint64(1<<20 - step) }, 0},
		{"ascending then deletes", func(r *rand.Rand, step int) uint64 {
			if step < 2500 {
				return uint64(step)
			}
			return r.Uint64N(2500)
		}, 0.8},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			type version struct {
				tree btree[uint64, int]
				want map[uint64]int
			}
			var versions []version
			var tr btree[uint64, int]
			want := map[uint64]int{}
			step := 0
			for range 60 {
				x := tr.txn()
				for range r.IntN(200) + 1 {
					k := o.key(r, step)
					if r.Float64() < o.del {
						_, had := want[k]
						if got := x.del(k); got != had {
							t.Fatalf("del(%d) = %v, want %v", k, got, had)
						}
						delete(want, k)
					} else {
						x.put(k, step)
						want[k] = step
					}
					wantV, wantOK := want[k]
					if v, ok := x.get(k); v != wantV || ok != wantOK {
						t.Fatalf("get(%d) inside the transaction = %d, %v, want %d, %v", k, v, ok, wantV, wantOK)
					}
					step++
				}
				tr = x.commit()
				checkContents(t, tr, want)
				versions = append(versions, version{tr, maps.Clone(want)})
			}
			for i, v := range versions {
				t.Run(fmt.Sprint("version ", i), func(t *testing.T) { checkContents(t, v.tree, v.want) })
			}
		})
	}
}

// TestBtreeStringKeys runs the same model with string keys, whose order is
// bytewise.
func TestBtreeStringKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tr btree[string, int]
	want := map[string]int{}
	for i := range 40 {
		x := tr.txn()
		for j := range 100 {
			k := fmt.Sprintf("%x\xff%c", r.IntN(600), 'A'+r.IntN(60))
			if r.IntN(3) == 0 {
				x.del(k)
				delete(want, k)
			} else {
				x.put(k, i*1000+j)
				want[k] = i*1000 + j
			}
		}
		tr = x.commit()
		checkContents(t, tr, want)
	}
}

// TestBtreeAscendingFill checks that ids arriving in ascending order fill
// the nodes, as loading users does, rather than leaving them half full.
func TestBtreeAscendingFill(t *testing.T) {
	for _, perTxn := range []int{1, 7, 256} {
		t.Run(fmt.Sprint(perTxn, " per transaction"), func(t *testing.T) {
			var tr btree[uint64, int]
			const n = 10_000
			for first := 0; first < n; first += perTxn {
				x := tr.txn()
				for k := first; k < min(first+perTxn, n); k++ {
					x.put(uint64(k), k)
				}
				tr = x.commit()
			}
			checkTree(t, tr)
			var leaves, inner int
			var count func(n *bnode[uint64, int])
			count = func(n *bnode[uint64, int]) {
				if n.leaf() {
					leaves++
					return
				}
				inner++
				for _, c := range n.kids {
					count(c)
				}
			}
			count(tr.root)
			if want := (n + btreeMax - 1) / btreeMax; leaves != want {
				t.Errorf("%d leaves for %d ascending keys, want %d (full)", leaves, n, want)
			}
			if limit := leaves/(btreeMax-1) + 3; inner > limit {
				t.Errorf("%d inner nodes over %d leaves, want at most %d", inner, leaves, limit)
			}
		})
	}
}

// TestBtreeTxnAfterCommit checks that a transaction that goes on writing
// after a commit leaves the committed tree as it was.
func TestBtreeTxnAfterCommit(t *testing.T) {
	var tr btree[uint64, int]
	x := tr.txn()
	want := map[uint64]int{}
	for k := range uint64(500) {
		x.put(k, int(k))
		want[k] = int(k)
	}
	first := x.commit()
	for k := range uint64(500) {
		if k%2 == 0 {
			x.del(k)
		} else {
			x.put(k, -1)
		}
	}
	x.put(1000, 1000)
	checkContents(t, first, want)
	if got := x.commit().Len(); got != 251 {
		t.Errorf("second commit holds %d entries, want 251", got)
	}
	if tr.Len() != 0 || tr.root != nil {
		t.Errorf("the empty tree the transaction started from changed: %d entries", tr.Len())
	}
}

// TestBtreeReadWhileWriting reads a committed tree from several goroutines
// while a transaction rewrites it; run with -race, any write to a shared
// node is a data race.
func TestBtreeReadWhileWriting(t *testing.T) {
	var tr btree[uint64, int]
	x := tr.txn()
	for k := range uint64(3000) {
		x.put(k, int(k))
	}
	tr = x.commit()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				n := 0
				tr.walk(func(k uint64, v int) bool {
					if int(k) != v {
						errs <- fmt.Errorf("walk: %d holds %d", k, v)
						return true
					}
					n++
					return false
				})
				if n != 3000 {
					errs <- fmt.Errorf("walk saw %d entries, want 3000", n)
					return
				}
			}
		}()
	}
	y := tr.txn()
	for k := range uint64(3000) {
		if k%3 == 0 {
			y.del(k)
		} else {
			y.put(k, -int(k))
		}
	}
	y.commit()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBtreeDeleteAll empties a tree in several orders and checks that it
// ends with no nodes.
func TestBtreeDeleteAll(t *testing.T) {
	for _, name := range []string{"ascending", "descending", "shuffled"} {
		t.Run(name, func(t *testing.T) {
			var tr btree[uint64, int]
			x := tr.txn()
			const n = 2000
			for k := range uint64(n) {
				x.put(k, 0)
			}
			tr = x.commit()
			order := make([]uint64, n)
			for i := range order {
				order[i] = uint64(i)
			}
			switch name {
			case "descending":
				slices.Reverse(order)
			case "shuffled":
				rand.New(rand.NewPCG(5, 6)).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
			}
			for i, k := range order {
				y := tr.txn()
				if !y.del(k) {
					t.Fatalf("del(%d) = false", k)
				}
				if y.del(k) {
					t.Fatalf("second del(%d) = true", k)
				}
				tr = y.commit()
				if i%97 == 0 {
					checkTree(t, tr)
				}
			}
			if tr.root != nil || tr.Len() != 0 {
				t.Errorf("emptied tree has root %v and Len %d", tr.root, tr.Len())
			}
		})
	}
}
