package lincheck

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/anishathalye/porcupine"
)

func TestHistoryRecordsOutcomes(t *testing.T) {
	h := NewHistory()
	c := h.NewClient()
	first := c.ID()

	c.Invoke(put("a", "k", "v1")).Return(Output{Unknown: true}) // Return clears Unknown
	c.Invoke(get("a", "k")).Unknown()                           // dropped
	if c.ID() != first {
		t.Fatalf("a definite outcome or a dropped read changed the client id: %d → %d", first, c.ID())
	}
	c.Invoke(put("a", "k", "v2")).Unknown()
	if c.ID() == first {
		t.Fatalf("client kept id %d after an unknown write", first)
	}
	c.Invoke(get("a", "k")).Return(saw("v2"))

	ops := h.Operations()
	if len(ops) != 3 {
		t.Fatalf("recorded %d operations, want 3: %v", len(ops), ops)
	}
	if n, u, d := h.Stats(); n != 3 || u != 1 || d != 1 {
		t.Errorf("Stats = %d ops, %d unknown, %d dropped; want 3, 1, 1", n, u, d)
	}
	if o := ops[0]; o.ClientId != first || o.Output.(Output).Unknown || o.Return == math.MaxInt64 || o.Return < o.Call {
		t.Errorf("acknowledged write recorded as %+v", o)
	}
	if o := ops[1]; o.ClientId != first || !o.Output.(Output).Unknown || o.Return != math.MaxInt64 {
		t.Errorf("unknown write recorded as %+v", o)
	}
	if o := ops[2]; o.ClientId != c.ID() || o.Call < ops[1].Call {
		t.Errorf("read after the unknown write recorded as %+v", o)
	}
	// A client's own operations never overlap, apart from the open-ended
	// unknown write whose id was retired.
	if ops[1].Call < ops[0].Return {
		t.Errorf("second call %d before first return %d", ops[1].Call, ops[0].Return)
	}
	if res := porcupine.CheckOperations(Model, ops); !res {
		t.Errorf("recorded history is not linearizable: %v", ops)
	}
}

func TestHistoryRejectsOverlappingCalls(t *testing.T) {
	c := NewHistory().NewClient()
	call := c.Invoke(get("a", "k"))
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("a second Invoke while one is outstanding did not panic")
			}
		}()
		c.Invoke(get("a", "k"))
	}()
	call.Return(missing)
	defer func() {
		if recover() == nil {
			t.Errorf("finishing a call twice did not panic")
		}
	}()
	call.Return(missing)
}

// Many clients record at once (run with -race); ids stay unique.
func TestHistoryConcurrentClients(t *testing.T) {
	h := NewHistory()
	const clients, each = 8, 50
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.NewClient()
			for j := range each {
				v := fmt.Sprintf("c%d-%d", i, j)
				call := c.Invoke(put(fmt.Sprint("u", i), "k", v))
				if j%10 == 9 {
					call.Unknown()
					continue
				}
				call.Return(ok)
				c.Invoke(get(fmt.Sprint("u", i), "k")).Return(saw(v))
			}
		}()
	}
	wg.Wait()
	ops := h.Operations()
	if n, u, _ := h.Stats(); n != len(ops) || u != clients*each/10 {
		t.Errorf("Stats = %d ops, %d unknown; want %d, %d", n, u, len(ops), clients*each/10)
	}
	// Ids are unique per client: no id holds operations of two users.
	owner := map[int]string{}
	for _, o := range ops {
		u := o.Input.(Input).User
		if prev, ok := owner[o.ClientId]; ok && prev != u {
			t.Fatalf("client id %d used by %s and %s", o.ClientId, prev, u)
		}
		owner[o.ClientId] = u
	}
	if res := porcupine.CheckOperations(Model, ops); !res {
		t.Errorf("history of independent sequential clients is not linearizable")
	}
}
