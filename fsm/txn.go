package fsm

import iradix "github.com/hashicorp/go-immutable-radix/v2"

// txn is a lazily opened write transaction over one tree: a command that
// never touches a table costs nothing for it.
type txn[T any] struct {
	tree *iradix.Tree[T]
	tx   *iradix.Txn[T]
}

func newTxn[T any](tree *iradix.Tree[T]) *txn[T] {
	return &txn[T]{tree: tree}
}

func (t *txn[T]) get(k []byte) (T, bool) {
	if t.tx != nil {
		return t.tx.Get(k)
	}
	return t.tree.Get(k)
}

func (t *txn[T]) open() *iradix.Txn[T] {
	if t.tx == nil {
		t.tx = t.tree.Txn()
	}
	return t.tx
}

func (t *txn[T]) put(k []byte, v T) { t.open().Insert(k, v) }

func (t *txn[T]) del(k []byte) { t.open().Delete(k) }

// delPrefix deletes every key under prefix and returns how many there were.
func (t *txn[T]) delPrefix(prefix []byte) int {
	n := len(t.keys(prefix))
	if n > 0 {
		t.open().DeletePrefix(prefix)
	}
	return n
}

// keys returns every key under prefix, in order.
func (t *txn[T]) keys(prefix []byte) [][]byte {
	root := t.tree.Root()
	if t.tx != nil {
		root = t.tx.Root()
	}
	var out [][]byte
	root.WalkPrefix(prefix, func(k []byte, _ T) bool {
		out = append(out, k)
		return false
	})
	return out
}

func (t *txn[T]) commit() *iradix.Tree[T] {
	if t.tx == nil {
		return t.tree
	}
	return t.tx.Commit()
}
