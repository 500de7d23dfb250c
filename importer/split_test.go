package importer_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/importer"
)

// splitPlan is a plan with three users of different sizes, a preference for
// a user it does not list, and global settings.
func splitPlan() importer.Plan {
	p := importer.Plan{}
	for _, name := range []string{"ann", "ben", "cid", "dot"} {
		p.Users = append(p.Users, importer.User{Username: name})
	}
	for i := range 40 {
		p.Prefs = append(p.Prefs, importer.Pref{User: "ann", Key: fmt.Sprintf("k%02d", i), Value: strings.Repeat("a", 50)})
	}
	p.Prefs = append(p.Prefs,
		importer.Pref{User: "ben", Key: "big", Value: strings.Repeat("b", 3000)},
		importer.Pref{User: "ben", Key: "small", Value: "b"},
		importer.Pref{User: "existing", Key: "k", Value: "v"},
	)
	p.Settings = append(p.Settings,
		importer.Setting{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, User: "cid", Key: "A", Value: "1"},
		importer.Setting{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "B", Value: "2"},
	)
	return p
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name   string
		budget int
		// parts is how many parts to expect; 0 means more than one.
		parts int
	}{
		{"everything fits", 1 << 20, 1},
		{"small parts", 1000, 0},
		{"tiny parts", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := splitPlan()
			parts := importer.Split(plan, tt.budget)
			if tt.parts > 0 && len(parts) != tt.parts || tt.parts == 0 && len(parts) < 2 {
				t.Fatalf("%d parts, want %d (0: several)", len(parts), tt.parts)
			}
			listed := map[string]bool{}
			for _, u := range plan.Users {
				listed[u.Username] = true
			}
			var joined importer.Plan
			seen := map[string]bool{}
			for i, part := range parts {
				if part.Len() == 0 {
					t.Fatalf("part %d is empty", i)
				}
				b, err := json.Marshal(part)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > tt.budget && part.Len() > 2 {
					t.Errorf("part %d has %d bytes and %d items, over the budget %d", i, len(b), part.Len(), tt.budget)
				}
				inPart := map[string]bool{}
				for _, u := range part.Users {
					inPart[u.Username] = true
					if !seen[u.Username] {
						seen[u.Username] = true
						joined.Users = append(joined.Users, u)
					}
				}
				for _, pr := range part.Prefs {
					if listed[pr.User] && !inPart[pr.User] {
						t.Errorf("part %d has a preference of %s without the user's record", i, pr.User)
					}
				}
				for _, s := range part.Settings {
					if s.User != "" && listed[s.User] && !inPart[s.User] {
						t.Errorf("part %d has a setting of %s without the user's record", i, s.User)
					}
				}
				joined.Prefs = append(joined.Prefs, part.Prefs...)
				joined.Settings = append(joined.Settings, part.Settings...)
			}
			if !reflect.DeepEqual(joined, plan) {
				t.Errorf("the parts joined are not the plan:\n got %+v\nwant %+v", joined, plan)
			}
		})
	}
}
