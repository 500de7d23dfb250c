// Package lincheck checks that histories of prefsd client operations are
// linearizable, with porcupine (github.com/anishathalye/porcupine), the
// checker etcd's robustness tests use.
//
// The model is one register per (user, preference key), holding the opaque
// string last written. Operations are a single-key put (an edX merge-patch of
// one key), a get, a delete, and a merge-patch of several keys of one user in
// which a null deletes.
//
// Partitioning: the history is split by user, not by user+key. A merge-patch
// writes several keys of one user in a single raft command, so it must be
// atomic across those keys; porcupine puts every operation in exactly one
// partition, so a per-key split would have to cut a patch into independent
// single-key writes and could no longer see a reader observe half of one.
// Users never share a command, so per-user partitions are independent and a
// history is linearizable iff each user's sub-history is (P-compositionality),
// which keeps the search small.
//
// Two more kinds of register ride on the same operations. A global setting
// is a register in a partition of its own, named by a User of the form
// "global:<KEY>" (GlobalUser), which no username can be since usernames
// have no colon; a read that finds the catalogue default reports it as
// absent, so the default must never be written. A user with a count quota
// carries the limit in every write's Input.Quota, and the model applies
// the check prefsd's state machine makes on the user's count after the
// whole write: a Put or Patch that raises the count above the limit is
// refused (Output.Refused) and changes nothing, and any other write is
// accepted. So every new key of a Patch counts, a null in the same Patch
// that removes an existing key makes room, overwriting an existing key
// costs nothing, and a delete is never refused.
//
// Writers must use unique values (etcd and Jepsen do the same) so that a read
// names the write it observed. A write whose outcome is unknown (a transport
// error, 503 or 504) is recorded with Output.Unknown and Return =
// math.MaxInt64: porcupine may then place it anywhere after its call,
// including after every other operation, which is the same as "never took
// effect". Reads that fail are dropped; they observed nothing.
package lincheck

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation's kind.
type Kind uint8

const (
	// Get reads one key: GET /api/user/v1/preferences/{u}/{k}, or, for
	// a global setting, GET /api/settings/global/{KEY}/.
	Get Kind = iota + 1
	// Put writes one key: PATCH {"k": "v"}, or, for a global setting,
	// PATCH /api/settings/global/{KEY}/ with {"value": "v"}.
	Put
	// Delete removes one key: DELETE /api/user/v1/preferences/{u}/{k},
	// answering 204 when the key existed and 404 when it did not.
	Delete
	// Patch writes several keys of one user at once: PATCH with a JSON
	// merge-patch where a null removes the key.
	Patch
)

func (k Kind) String() string {
	switch k {
	case Get:
		return "get"
	case Put:
		return "put"
	case Delete:
		return "delete"
	case Patch:
		return "patch"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Field is one entry of a merge-patch; Delete stands for JSON null.
type Field struct {
	Key    string
	Value  string
	Delete bool
}

// Input is an operation as invoked.
type Input struct {
	Kind  Kind
	User  string
	Key   string  // Get, Put, Delete
	Value string  // Put
	Patch []Field // Patch
	// Quota is the user's max_preferences limit for a Put or Patch; 0
	// means the writes of this user are never refused.
	Quota int
}

// GlobalUser returns the partition name of the global setting key.
func GlobalUser(key string) string { return "global:" + key }

// IsWrite reports whether the operation may change state.
func (in Input) IsWrite() bool { return in.Kind != Get }

// Output is what an operation answered.
type Output struct {
	// Unknown marks a write whose outcome is not known; any effect, or
	// none, is allowed (the latter by linearizing it last).
	Unknown bool
	// Found is, for Get, whether the key was there (200 rather than 404)
	// and, for Delete, whether it was removed (204 rather than 404).
	Found bool
	// Value is the value a Get found.
	Value string
	// Refused is, for Put and Patch, that the write was refused for
	// exceeding the user's count quota.
	Refused bool
}

// State is one user's preferences: key → value. It is never mutated; Step
// copies it.
type State map[string]string

func step(st State, in Input, out Output) (bool, State) {
	switch in.Kind {
	case Get:
		v, ok := st[in.Key]
		return !out.Unknown && ok == out.Found && (!ok || v == out.Value), st
	case Put:
		next := maps.Clone(st)
		if next == nil {
			next = State{}
		}
		next[in.Key] = in.Value
		return quota(st, next, in, out)
	case Delete:
		_, ok := st[in.Key]
		if !out.Unknown && ok != out.Found {
			return false, st
		}
		if !ok {
			return true, st
		}
		next := maps.Clone(st)
		delete(next, in.Key)
		return true, next
	case Patch:
		next := maps.Clone(st)
		if next == nil {
			next = State{}
		}
		for _, f := range in.Patch {
			if f.Delete {
				delete(next, f.Key)
			} else {
				next[f.Key] = f.Value
			}
		}
		return quota(st, next, in, out)
	}
	return false, st
}

// quota decides a write that would take st to next: a write that raises
// the count above in.Quota is refused and changes nothing; any other is
// accepted. An unknown outcome is whichever the state calls for.
func quota(st, next State, in Input, out Output) (bool, State) {
	over := in.Quota > 0 && len(next) > len(st) && len(next) > in.Quota
	switch {
	case out.Unknown && over:
		return true, st
	case out.Unknown:
		return true, next
	case over:
		return out.Refused, st
	}
	return !out.Refused, next
}

// Model is the porcupine model of per-user preference registers,
// partitioned by user.
var Model = porcupine.Model{
	Partition: partitionByUser,
	Init:      func() any { return State{} },
	Step: func(state, input, output any) (bool, any) {
		return step(state.(State), input.(Input), output.(Output))
	},
	Equal: func(a, b any) bool { return maps.Equal(a.(State), b.(State)) },
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		st := state.(State)
		for _, k := range slices.Sorted(maps.Keys(st)) {
			fmt.Fprintf(h, "%q=%q;", k, st[k])
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		return Describe(input.(Input), output.(Output))
	},
	DescribeState: func(state any) string {
		st := state.(State)
		var b strings.Builder
		b.WriteString("{")
		for i, k := range slices.Sorted(maps.Keys(st)) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %q", k, st[k])
		}
		b.WriteString("}")
		return b.String()
	},
}

// Describe renders an operation for the visualisation and for messages.
func Describe(in Input, out Output) string {
	var s string
	switch in.Kind {
	case Get:
		s = fmt.Sprintf("get(%s/%s)", in.User, in.Key)
	case Put:
		s = fmt.Sprintf("put(%s/%s=%q)", in.User, in.Key, in.Value)
	case Delete:
		s = fmt.Sprintf("delete(%s/%s)", in.User, in.Key)
	case Patch:
		parts := make([]string, len(in.Patch))
		for i, f := range in.Patch {
			if f.Delete {
				parts[i] = f.Key + "=null"
			} else {
				parts[i] = fmt.Sprintf("%s=%q", f.Key, f.Value)
			}
		}
		s = fmt.Sprintf("patch(%s {%s})", in.User, strings.Join(parts, ", "))
	default:
		s = in.Kind.String()
	}
	switch {
	case out.Unknown:
		return s + " -> unknown"
	case in.Kind == Get && out.Found:
		return fmt.Sprintf("%s -> %q", s, out.Value)
	case in.Kind == Get || in.Kind == Delete:
		if out.Found {
			return s + " -> 204"
		}
		return s + " -> 404"
	case out.Refused:
		return fmt.Sprintf("%s -> refused (quota %d)", s, in.Quota)
	}
	return s + " -> ok"
}

// partitionByUser splits a history into one sub-history per user, in order
// of each user's first operation.
func partitionByUser(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var out [][]porcupine.Operation
	for _, op := range history {
		u := op.Input.(Input).User
		i, ok := index[u]
		if !ok {
			i = len(out)
			index[u] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], op)
	}
	return out
}
