package lincheck

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

const never = math.MaxInt64

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
}

func put(u, k, v string) Input          { return Input{Kind: Put, User: u, Key: k, Value: v} }
func get(u, k string) Input             { return Input{Kind: Get, User: u, Key: k} }
func del(u, k string) Input             { return Input{Kind: Delete, User: u, Key: k} }
func patch(u string, fs ...Field) Input { return Input{Kind: Patch, User: u, Patch: fs} }
func set(k, v string) Field             { return Field{Key: k, Value: v} }

// The quota-limited writes of the tests: a limit of 2.
func qput(u, k, v string) Input {
	return Input{Kind: Put, User: u, Key: k, Value: v, Quota: 2}
}
func qpatch(u string, fs ...Field) Input { return Input{Kind: Patch, User: u, Patch: fs, Quota: 2} }
func null(k string) Field                { return Field{Key: k, Delete: true} }

var (
	ok      = Output{}
	unknown = Output{Unknown: true}
	missing = Output{}
	gone    = Output{Found: true} // a delete that removed the key (204)
	refused = Output{Refused: true}
)

func saw(v string) Output { return Output{Found: true, Value: v} }

func TestModel(t *testing.T) {
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"empty history", nil, porcupine.Ok},
		{"read of a never-written key is 404", []porcupine.Operation{
			op(0, 0, 1, get("a", "k"), missing),
		}, porcupine.Ok},
		{"read of a value nobody wrote", []porcupine.Operation{
			op(0, 0, 1, get("a", "k"), saw("x")),
		}, porcupine.Illegal},
		{"read after acknowledged write sees it", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, 3, get("a", "k"), saw("v1")),
		}, porcupine.Ok},
		{"404 after acknowledged write", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, 3, get("a", "k"), missing),
		}, porcupine.Illegal},
		{"stale read after acknowledged write", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 3, put("a", "k", "v2"), ok),
			op(1, 4, 5, get("a", "k"), saw("v1")),
		}, porcupine.Illegal},
		{"read concurrent with a write may see the old value", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 5, put("a", "k", "v2"), ok),
			op(1, 3, 4, get("a", "k"), saw("v1")),
		}, porcupine.Ok},
		{"read concurrent with a write may see the new value", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 5, put("a", "k", "v2"), ok),
			op(1, 3, 4, get("a", "k"), saw("v2")),
		}, porcupine.Ok},
		{"closed intervals: touching operations are concurrent", []porcupine.Operation{
			op(0, 0, 2, put("a", "k", "v1"), ok),
			op(1, 2, 3, get("a", "k"), missing),
		}, porcupine.Ok},
		{"concurrent writes, v1 wins", []porcupine.Operation{
			op(0, 0, 3, put("a", "k", "v1"), ok),
			op(1, 1, 2, put("a", "k", "v2"), ok),
			op(2, 4, 5, get("a", "k"), saw("v1")),
			op(2, 6, 7, get("a", "k"), saw("v1")),
		}, porcupine.Ok},
		{"concurrent writes, v2 wins", []porcupine.Operation{
			op(0, 0, 3, put("a", "k", "v1"), ok),
			op(1, 1, 2, put("a", "k", "v2"), ok),
			op(2, 4, 5, get("a", "k"), saw("v2")),
		}, porcupine.Ok},
		{"concurrent writes, readers disagree on the order", []porcupine.Operation{
			op(0, 0, 3, put("a", "k", "v1"), ok),
			op(1, 1, 2, put("a", "k", "v2"), ok),
			op(2, 4, 5, get("a", "k"), saw("v2")),
			op(3, 6, 7, get("a", "k"), saw("v1")),
		}, porcupine.Illegal},
		{"unknown write that never took effect", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, never, put("a", "k", "v2"), unknown),
			op(2, 3, 4, get("a", "k"), saw("v1")),
			op(2, 10, 11, get("a", "k"), saw("v1")),
		}, porcupine.Ok},
		{"unknown write that took effect", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, never, put("a", "k", "v2"), unknown),
			op(2, 3, 4, get("a", "k"), saw("v2")),
		}, porcupine.Ok},
		{"unknown write seen, then undone", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, never, put("a", "k", "v2"), unknown),
			op(2, 3, 4, get("a", "k"), saw("v2")),
			op(2, 5, 6, get("a", "k"), saw("v1")),
		}, porcupine.Illegal},
		{"unknown write cannot take effect before it was called", []porcupine.Operation{
			op(0, 0, 1, get("a", "k"), saw("v2")),
			op(1, 2, never, put("a", "k", "v2"), unknown),
		}, porcupine.Illegal},
		{"delete then get is 404", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 3, del("a", "k"), gone),
			op(1, 4, 5, get("a", "k"), missing),
		}, porcupine.Ok},
		{"delete then get sees the deleted value", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 3, del("a", "k"), gone),
			op(1, 4, 5, get("a", "k"), saw("v1")),
		}, porcupine.Illegal},
		{"delete of a missing key is 404", []porcupine.Operation{
			op(0, 0, 1, del("a", "k"), missing),
		}, porcupine.Ok},
		{"delete of a missing key cannot answer 204", []porcupine.Operation{
			op(0, 0, 1, del("a", "k"), gone),
		}, porcupine.Illegal},
		{"delete of a present key cannot answer 404", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(0, 2, 3, del("a", "k"), missing),
		}, porcupine.Illegal},
		{"two deletes of one key: only one removes it", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, 5, del("a", "k"), gone),
			op(2, 3, 4, del("a", "k"), gone),
		}, porcupine.Illegal},
		{"unknown delete may take effect", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "v1"), ok),
			op(1, 2, never, del("a", "k"), unknown),
			op(2, 3, 4, get("a", "k"), missing),
		}, porcupine.Ok},
		{"patch writes every key", []porcupine.Operation{
			op(0, 0, 1, patch("a", set("x", "1"), set("y", "2")), ok),
			op(1, 2, 3, get("a", "x"), saw("1")),
			op(1, 4, 5, get("a", "y"), saw("2")),
		}, porcupine.Ok},
		{"patch null deletes", []porcupine.Operation{
			op(0, 0, 1, put("a", "x", "1"), ok),
			op(0, 2, 3, patch("a", null("x"), set("y", "2")), ok),
			op(1, 4, 5, get("a", "x"), missing),
		}, porcupine.Ok},
		{"patch null then the old value reappears", []porcupine.Operation{
			op(0, 0, 1, put("a", "x", "1"), ok),
			op(0, 2, 3, patch("a", null("x"), set("y", "2")), ok),
			op(1, 4, 5, get("a", "x"), saw("1")),
		}, porcupine.Illegal},
		{"patch seen half applied", []porcupine.Operation{
			op(0, 0, 10, patch("a", set("x", "1"), set("y", "2")), ok),
			op(1, 1, 2, get("a", "x"), saw("1")),
			op(1, 3, 4, get("a", "y"), missing),
		}, porcupine.Illegal},
		{"patch concurrent with reads, seen atomically", []porcupine.Operation{
			op(0, 0, 10, patch("a", set("x", "1"), set("y", "2")), ok),
			op(1, 1, 2, get("a", "y"), missing),
			op(1, 3, 4, get("a", "x"), saw("1")),
			op(1, 5, 6, get("a", "y"), saw("2")),
		}, porcupine.Ok},
		{"keys are independent registers", []porcupine.Operation{
			op(0, 0, 1, put("a", "x", "1"), ok),
			op(1, 2, 3, get("a", "y"), missing),
		}, porcupine.Ok},
		{"users are independent", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "1"), ok),
			op(1, 2, 3, get("b", "k"), missing),
		}, porcupine.Ok},
		{"stale read in one user among others' traffic", []porcupine.Operation{
			op(0, 0, 1, put("a", "k", "1"), ok),
			op(1, 0, 1, put("b", "k", "1"), ok),
			op(0, 2, 3, put("a", "k", "2"), ok),
			op(1, 2, 3, put("b", "k", "2"), ok),
			op(2, 4, 5, get("a", "k"), saw("2")),
			op(2, 6, 7, get("b", "k"), saw("1")),
		}, porcupine.Illegal},

		// Quota-limited creates (limit 2).
		{"creates up to the limit are accepted, the next is refused", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qput("q", "c", "3"), refused),
			op(0, 6, 7, get("q", "c"), missing),
		}, porcupine.Ok},
		{"a refusal below the limit", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), refused),
		}, porcupine.Illegal},
		{"an acceptance past the limit", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qput("q", "c", "3"), ok),
		}, porcupine.Illegal},
		{"concurrent creates: only one of two fits", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(1, 2, 5, qput("q", "b", "2"), ok),
			op(2, 3, 6, qput("q", "c", "3"), ok),
		}, porcupine.Illegal},
		{"concurrent creates: one accepted, one refused", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(1, 2, 5, qput("q", "b", "2"), refused),
			op(2, 3, 6, qput("q", "c", "3"), ok),
		}, porcupine.Ok},
		{"overwriting at the limit is accepted", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qput("q", "a", "3"), ok),
		}, porcupine.Ok},
		{"a delete makes room", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, del("q", "a"), gone),
			op(0, 6, 7, qput("q", "c", "3"), ok),
		}, porcupine.Ok},
		{"an unknown create may have filled the last place", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(1, 2, never, qput("q", "b", "2"), unknown),
			op(2, 4, 5, qput("q", "c", "3"), refused),
		}, porcupine.Ok},
		{"a patch adding two keys past the limit is refused whole", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qpatch("q", set("b", "2"), set("c", "3")), refused),
			op(0, 4, 5, get("q", "b"), missing),
		}, porcupine.Ok},
		{"a patch that swaps keys at the limit is accepted", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qpatch("q", null("a"), set("c", "3")), ok),
		}, porcupine.Ok},

		{"a refused create changes nothing", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qput("q", "c", "3"), refused),
			op(1, 6, 7, get("q", "c"), saw("3")),
		}, porcupine.Illegal},
		{"a refused patch is not half applied", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qpatch("q", set("a", "9"), set("b", "2"), set("c", "3")), refused),
			op(1, 4, 5, get("q", "a"), saw("9")),
		}, porcupine.Illegal},
		{"a patch adding two keys counts both", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qpatch("q", set("b", "2"), set("c", "3")), ok),
		}, porcupine.Illegal},
		{"overwriting at the limit cannot be refused", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qput("q", "a", "3"), refused),
		}, porcupine.Illegal},
		{"a refusal after a delete made room", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, del("q", "a"), gone),
			op(1, 6, 7, qput("q", "c", "3"), refused),
		}, porcupine.Illegal},
		{"a refusal concurrent with the delete that made room", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 8, del("q", "a"), gone),
			op(1, 5, 7, qput("q", "c", "3"), refused),
			op(1, 9, 10, qput("q", "d", "4"), ok),
		}, porcupine.Ok},
		{"deleting a missing key in a patch makes no room", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(0, 4, 5, qpatch("q", null("x"), set("c", "3")), ok),
		}, porcupine.Illegal},
		{"an unknown create past the limit cannot take effect", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(1, 4, never, qput("q", "c", "3"), unknown),
			op(2, 6, 7, get("q", "c"), saw("3")),
		}, porcupine.Illegal},
		{"an unknown create takes effect once a delete made room", []porcupine.Operation{
			op(0, 0, 1, qput("q", "a", "1"), ok),
			op(0, 2, 3, qput("q", "b", "2"), ok),
			op(1, 4, never, qput("q", "c", "3"), unknown),
			op(0, 5, 6, del("q", "a"), gone),
			op(2, 7, 8, get("q", "c"), saw("3")),
		}, porcupine.Ok},
		{"without a quota, creates are never refused", []porcupine.Operation{
			op(0, 0, 1, put("a", "x", "1"), ok),
			op(0, 2, 3, put("a", "y", "2"), ok),
			op(0, 4, 5, put("a", "z", "3"), ok),
			op(0, 6, 7, put("a", "w", "4"), refused),
		}, porcupine.Illegal},

		// A global setting is a register of its own.
		{"global setting read after write", []porcupine.Operation{
			op(0, 0, 1, put(GlobalUser("G"), "G", "v1"), ok),
			op(1, 2, 3, get(GlobalUser("G"), "G"), saw("v1")),
		}, porcupine.Ok},
		{"global setting at its default reads as absent", []porcupine.Operation{
			op(0, 0, 1, get(GlobalUser("G"), "G"), missing),
			op(1, 2, never, put(GlobalUser("G"), "G", "v1"), unknown),
			op(0, 3, 4, get(GlobalUser("G"), "G"), missing),
			op(0, 5, 6, get(GlobalUser("G"), "G"), saw("v1")),
		}, porcupine.Ok},
		{"global setting back at its default after a write", []porcupine.Operation{
			op(0, 0, 1, put(GlobalUser("G"), "G", "v1"), ok),
			op(1, 2, 3, get(GlobalUser("G"), "G"), missing),
		}, porcupine.Illegal},
		{"global setting is not a user's key", []porcupine.Operation{
			op(0, 0, 1, put("G", "G", "v1"), ok),
			op(1, 2, 3, get(GlobalUser("G"), "G"), saw("v1")),
		}, porcupine.Illegal},
		{"concurrent global writes, readers disagree on the order", []porcupine.Operation{
			op(0, 0, 3, put(GlobalUser("G"), "G", "v1"), ok),
			op(1, 1, 2, put(GlobalUser("G"), "G", "v2"), ok),
			op(2, 4, 5, get(GlobalUser("G"), "G"), saw("v2")),
			op(3, 6, 7, get(GlobalUser("G"), "G"), saw("v1")),
		}, porcupine.Illegal},
		{"stale global setting read", []porcupine.Operation{
			op(0, 0, 1, put(GlobalUser("G"), "G", "v1"), ok),
			op(0, 2, 3, put(GlobalUser("G"), "G", "v2"), ok),
			op(1, 4, 5, get(GlobalUser("G"), "G"), saw("v1")),
		}, porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(Model, c.ops, 0); got != c.want {
				t.Errorf("check = %s, want %s", got, c.want)
			}
		})
	}
}

func TestPartitionByUser(t *testing.T) {
	h := []porcupine.Operation{
		op(0, 0, 1, put("a", "k", "1"), ok),
		op(1, 0, 1, patch("b", set("x", "1"), set("y", "1")), ok),
		op(2, 2, 3, get("a", "z"), missing),
	}
	parts := partitionByUser(h)
	if len(parts) != 2 || len(parts[0]) != 2 || len(parts[1]) != 1 {
		t.Fatalf("partitions = %v, want [a a] [b]", parts)
	}
	for _, p := range parts {
		u := p[0].Input.(Input).User
		for _, o := range p {
			if got := o.Input.(Input).User; got != u {
				t.Errorf("partition of %s holds an operation of %s", u, got)
			}
		}
	}
}

func TestModelHashAgreesWithEqual(t *testing.T) {
	a := State{"x": "1", "y": "2"}
	b := State{"y": "2", "x": "1"}
	c := State{"x": "1", "y": "3"}
	if !Model.Equal(a, b) || Model.Hash(a) != Model.Hash(b) {
		t.Errorf("equal states: Equal=%v, hashes %x %x", Model.Equal(a, b), Model.Hash(a), Model.Hash(b))
	}
	if Model.Equal(a, c) {
		t.Errorf("Equal(%v, %v) = true", a, c)
	}
	// Step is pure: it must not change the state it is given.
	before := State{"x": "1"}
	_, after := Model.Step(before, put("a", "x", "2"), ok)
	if before["x"] != "1" || after.(State)["x"] != "2" {
		t.Errorf("Step mutated its input: before=%v after=%v", before, after)
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		in   Input
		out  Output
		want string
	}{
		{get("a", "k"), saw("v"), `get(a/k) -> "v"`},
		{get("a", "k"), missing, `get(a/k) -> 404`},
		{del("a", "k"), gone, `delete(a/k) -> 204`},
		{put("a", "k", "v"), unknown, `put(a/k="v") -> unknown`},
		{patch("a", set("x", "1"), null("y")), ok, `patch(a {x="1", y=null}) -> ok`},
		{qput("q", "k", "v"), refused, `put(q/k="v") -> refused (quota 2)`},
		{get(GlobalUser("G"), "G"), saw("v"), `get(global:G/G) -> "v"`},
	} {
		if got := Describe(c.in, c.out); got != c.want {
			t.Errorf("Describe = %s, want %s", got, c.want)
		}
	}
}

// A failed check writes a visualisation; a passing one writes nothing.
func TestCheckPathVisualisesFailures(t *testing.T) {
	dir := t.TempDir()
	bad := []porcupine.Operation{
		op(0, 0, 1, put("a", "k", "v1"), ok),
		op(0, 2, 3, put("a", "k", "v2"), ok),
		op(1, 4, 5, get("a", "k"), saw("v1")),
	}
	path := filepath.Join(dir, "bad.html")
	res, err := CheckPath(bad, 0, path, porcupine.Annotation{Tag: "nemesis", Start: 1, End: 2, Description: "stop n1"})
	if err != nil || res != porcupine.Illegal {
		t.Fatalf("CheckPath(bad) = %s, %v; want Illegal", res, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("visualisation not written: %v", err)
	}
	if !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "v1") {
		t.Errorf("visualisation does not look like the history (%d bytes)", len(b))
	}

	good := bad[:2]
	path = filepath.Join(dir, "good.html")
	if res, err := CheckPath(good, 0, path); err != nil || res != porcupine.Ok {
		t.Fatalf("CheckPath(good) = %s, %v; want Ok", res, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a passing check wrote %s (stat: %v)", path, err)
	}
}

// Check logs and returns Illegal for a bad history (the visualisation
// goes to the test's temp dir).
func TestCheckIllegal(t *testing.T) {
	bad := []porcupine.Operation{
		op(0, 0, 1, del("a", "k"), gone),
	}
	if res := Check(t, bad, 0); res != porcupine.Illegal {
		t.Errorf("Check = %s, want Illegal", res)
	}
}
