package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// kind is one kind of benchmark operation.
type kind int

// The operation kinds, in the order the results list them.
const (
	// kindWrite merge-patches a single key.
	kindWrite kind = iota
	// kindRead reads one key at the default, linearizable consistency.
	kindRead
	// kindStale reads one key with ?consistency=stale.
	kindStale
	// kindPatch merge-patches two to four keys at once.
	kindPatch
	numKinds
)

// String returns the kind's name as -mix spells it.
func (k kind) String() string {
	switch k {
	case kindWrite:
		return "write"
	case kindRead:
		return "read"
	case kindStale:
		return "stale"
	case kindPatch:
		return "patch"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// defaultMix is the -mix default.
const defaultMix = "write=50,read=30,stale=10,patch=10"

// mix holds the relative weight of every operation kind.
type mix [numKinds]float64

// parseMix parses a list such as "write=50,read=30,stale=10,patch=10".
// Kinds left out weigh nothing; at least one weight must be positive.
func parseMix(s string) (mix, error) {
	var m mix
	seen := [numKinds]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, ok := strings.Cut(part, "=")
		if !ok {
			return m, fmt.Errorf("mix entry %q: want kind=weight", part)
		}
		k := kind(-1)
		for c := range numKinds {
			if strings.TrimSpace(name) == c.String() {
				k = c
			}
		}
		if k < 0 {
			return m, fmt.Errorf("mix entry %q: unknown kind (want write, read, stale or patch)", part)
		}
		if seen[k] {
			return m, fmt.Errorf("mix entry %q: %s given twice", part, k)
		}
		seen[k] = true
		w, err := strconv.ParseFloat(strings.TrimSpace(weight), 64)
		if err != nil || math.IsNaN(w) || w < 0 || w > 1e9 {
			return m, fmt.Errorf("mix entry %q: weight must be a non-negative number", part)
		}
		m[k] = w
	}
	if m.total() <= 0 {
		return m, fmt.Errorf("mix %q: at least one weight must be positive", s)
	}
	return m, nil
}

// total returns the sum of the weights.
func (m mix) total() float64 {
	var t float64
	for _, w := range m {
		t += w
	}
	return t
}

// String formats the mix as parseMix reads it.
func (m mix) String() string {
	parts := make([]string, 0, numKinds)
	for k, w := range m {
		if w > 0 {
			parts = append(parts, kind(k).String()+"="+strconv.FormatFloat(w, 'f', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}

// pick chooses a kind with probability proportional to its weight.
func (m mix) pick(rng *rand.Rand) kind {
	r := rng.Float64() * m.total()
	last := kindWrite
	for k, w := range m {
		if w <= 0 {
			continue
		}
		last = kind(k)
		if r < w {
			return kind(k)
		}
		r -= w
	}
	return last
}

// edxPrefsPath is the edX preferences list URL path of a user.
func edxPrefsPath(user string) string {
	return "/api/user/v1/preferences/" + url.PathEscape(user)
}

// keyName returns the name of the benchmark's i-th key.
func keyName(i int) string { return "bench-" + strconv.Itoa(i) }

// workload builds the requests of one client goroutine. It is not safe
// for concurrent use.
type workload struct {
	// etcd selects the etcd target's requests; prefix names its keys.
	etcd   bool
	prefix string
	addrs  []string
	users  []string
	tokens []string
	keys   []string
	mix    mix
	rng    *rand.Rand
	// letters holds random letters from which values are cut, so values
	// need no JSON escaping and vary from one request to the next.
	letters   []byte
	valueSize int
	next      int
}

// newWorkload returns the workload of client goroutine id.
func newWorkload(id int, seed uint64, addrs, users, tokens []string, keys int, valueSize int, m mix) *workload {
	w := &workload{
		addrs:     addrs,
		users:     users,
		tokens:    tokens,
		keys:      make([]string, keys),
		mix:       m,
		rng:       rand.New(rand.NewPCG(seed, uint64(id))),
		valueSize: valueSize,
		next:      id % len(addrs),
	}
	for i := range w.keys {
		w.keys[i] = keyName(i)
	}
	w.letters = make([]byte, valueSize+64)
	for i := range w.letters {
		w.letters[i] = 'a' + byte(w.rng.IntN(26))
	}
	return w
}

// value returns a fresh value of valueSize letters.
func (w *workload) value() []byte {
	off := w.rng.IntN(len(w.letters) - w.valueSize + 1)
	return w.letters[off : off+w.valueSize]
}

// base returns the next node's base URL, round-robin.
func (w *workload) base() string {
	b := w.addrs[w.next]
	w.next = (w.next + 1) % len(w.addrs)
	return b
}

// request builds the request of one operation of kind k against a random
// user and key(s).
func (w *workload) request(k kind) (*http.Request, error) {
	if w.etcd {
		return w.etcdRequest(k)
	}
	u := w.rng.IntN(len(w.users))
	path := edxPrefsPath(w.users[u])
	var (
		method = http.MethodGet
		body   io.Reader
		ctype  string
	)
	switch k {
	case kindWrite, kindPatch:
		n := 1
		if k == kindPatch {
			n = min(2+w.rng.IntN(3), len(w.keys))
		}
		method, ctype = http.MethodPatch, mediaMergePatch
		body = bytes.NewReader(w.patchBody(n))
	case kindRead:
		path += "/" + url.PathEscape(w.keys[w.rng.IntN(len(w.keys))])
	case kindStale:
		path += "/" + url.PathEscape(w.keys[w.rng.IntN(len(w.keys))]) + "?consistency=stale"
	}
	req, err := http.NewRequest(method, w.base()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Token "+w.tokens[u])
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, nil
}

// distinctKeys returns the indexes of n (at most 4) distinct random keys.
func (w *workload) distinctKeys(n int) []int {
	picked := make([]int, 0, 4)
	for i := 0; i < n; i++ {
		k := w.rng.IntN(len(w.keys))
		for j := 0; j < i; j++ {
			if picked[j] == k {
				k = (k + 1) % len(w.keys)
				j = -1
			}
		}
		picked = append(picked, k)
	}
	return picked
}

// patchBody returns a merge-patch setting n distinct random keys.
func (w *workload) patchBody(n int) []byte {
	b := make([]byte, 0, n*(w.valueSize+24)+2)
	b = append(b, '{')
	for i, k := range w.distinctKeys(n) {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, w.keys[k])
		b = append(b, ':', '"')
		b = append(b, w.value()...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// mediaMergePatch is the content type the edX PATCH requires.
const mediaMergePatch = "application/merge-patch+json"
