package fsm

import (
	"slices"
	"strings"
)

// prefBlock holds one user's free-form preferences, sorted by key
// (bytewise): every key and value in one string, and where each ends. A
// block never changes once stored; a patch builds a new one, which costs
// O(the user's bytes), bounded by the quota. Readers get keys and values as
// substrings of data, without copying.
type prefBlock struct {
	// data is key 0, value 0, key 1, value 1, ... back to back.
	data string
	// ends[2i] is where key i ends and value i starts; ends[2i+1] is where
	// value i ends and key i+1 starts.
	ends []uint32
}

// maxPrefBlockBytes bounds the bytes of one user's keys and values together,
// whatever the quota says, because a block's offsets are 32-bit. It is far
// above any quota a node could hold in memory.
const maxPrefBlockBytes int64 = 1<<32 - 1

// len returns how many preferences the block holds.
func (b prefBlock) len() int { return len(b.ends) / 2 }

// key returns key i.
func (b prefBlock) key(i int) string {
	start := uint32(0)
	if i > 0 {
		start = b.ends[2*i-1]
	}
	return b.data[start:b.ends[2*i]]
}

// value returns value i.
func (b prefBlock) value(i int) string { return b.data[b.ends[2*i]:b.ends[2*i+1]] }

// search returns the index of key in the block, or where it would go, and
// whether it is there.
func (b prefBlock) search(key string) (int, bool) {
	lo, hi := 0, b.len()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b.key(m) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < b.len() && b.key(lo) == key
}

// get returns the value of key.
func (b prefBlock) get(key string) (string, bool) {
	i, ok := b.search(key)
	if !ok {
		return "", false
	}
	return b.value(i), true
}

// kvs returns the preferences in key order. The slice is the caller's; its
// strings share the block's bytes.
func (b prefBlock) kvs() []KV {
	n := b.len()
	if n == 0 {
		return nil
	}
	out := make([]KV, n)
	start := uint32(0)
	for i := range out {
		k, v := b.ends[2*i], b.ends[2*i+1]
		out[i] = KV{Key: b.data[start:k], Value: b.data[k:v]}
		start = v
	}
	return out
}

// prefChange sets (value non-nil) or deletes (value nil) one key.
type prefChange struct {
	key   string
	value *string
}

// patched returns the block with changes applied. changes must be sorted by
// key without repeats; n and size are the resulting block's count and bytes,
// which the caller has computed, size at most maxPrefBlockBytes.
func (b prefBlock) patched(changes []prefChange, n int, size int64) prefBlock {
	if n == 0 {
		return prefBlock{}
	}
	var sb strings.Builder
	sb.Grow(int(size))
	ends := make([]uint32, 0, 2*n)
	add := func(k, v string) {
		sb.WriteString(k)
		ends = append(ends, uint32(sb.Len()))
		sb.WriteString(v)
		ends = append(ends, uint32(sb.Len()))
	}
	i, old := 0, b.len()
	for _, c := range changes {
		for ; i < old && b.key(i) < c.key; i++ {
			add(b.key(i), b.value(i))
		}
		if i < old && b.key(i) == c.key {
			i++
		}
		if c.value != nil {
			add(c.key, *c.value)
		}
	}
	for ; i < old; i++ {
		add(b.key(i), b.value(i))
	}
	return prefBlock{data: sb.String(), ends: ends}
}

// prefLoader builds users' preference blocks from a stream of preferences,
// as a snapshot holds them. Encode writes them ordered by user and key, so
// each user's block is built once, at its exact size; a preference out of
// that order is merged into the block already stored, later ones winning.
type prefLoader struct {
	prefs *btreeTxn[uint64, prefBlock]
	// open says whether data and ends hold user's block, not yet stored.
	open bool
	user uint64
	data []byte
	ends []uint32
}

// add stores one preference. It reports false if the user's preferences
// would exceed maxPrefBlockBytes.
func (l *prefLoader) add(userID uint64, key, value string) bool {
	if l.open && userID == l.user && key > string(l.lastKey()) {
		if int64(len(l.data))+int64(len(key)+len(value)) > maxPrefBlockBytes {
			return false
		}
		l.append(key, value)
		return true
	}
	l.flush()
	if b, ok := l.prefs.get(userID); ok {
		n, size := b.len()+1, int64(len(b.data)+len(key)+len(value))
		if i, found := b.search(key); found {
			n--
			size -= int64(len(b.key(i)) + len(b.value(i)))
		}
		if size > maxPrefBlockBytes {
			return false
		}
		l.prefs.put(userID, b.patched([]prefChange{{key: key, value: &value}}, n, size))
		return true
	}
	if int64(len(key)+len(value)) > maxPrefBlockBytes {
		return false
	}
	l.open, l.user = true, userID
	l.append(key, value)
	return true
}

func (l *prefLoader) append(key, value string) {
	l.data = append(l.data, key...)
	l.ends = append(l.ends, uint32(len(l.data)))
	l.data = append(l.data, value...)
	l.ends = append(l.ends, uint32(len(l.data)))
}

// lastKey returns the last key of the open block.
func (l *prefLoader) lastKey() []byte {
	n := len(l.ends)
	start := uint32(0)
	if n > 2 {
		start = l.ends[n-3]
	}
	return l.data[start:l.ends[n-2]]
}

// flush stores the open block, at its exact size.
func (l *prefLoader) flush() {
	if !l.open {
		return
	}
	l.prefs.put(l.user, prefBlock{data: string(l.data), ends: slices.Clone(l.ends)})
	l.open, l.data, l.ends = false, l.data[:0], l.ends[:0]
}
