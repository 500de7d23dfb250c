package catalog_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/fsm"
)

// FuzzCatalogLoad feeds arbitrary bytes to Load. It must never panic, and
// whatever it accepts must pass fsm.CheckDef and define each key only once
// per registry and scope.
func FuzzCatalogLoad(f *testing.F) {
	def, err := os.ReadFile("default.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	for _, s := range []string{
		"settings: []\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: A\n    type: string\n    default: x\n",
		"settings:\n  - registry: inventree\n    scope: user\n    key: N\n    type: integer\n    default: \"3\"\n    min: 0\n    max: 10\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: C\n    type: choice\n    default: a\n    choices:\n      - value: a\n        label: A\n      - value: b\n        label: B\n",
		`{"settings":[{"registry":"dynprefs","scope":"global","key":"general__title","section":"general","type":"string","default":"t"}]}`,
		"settings:\n  - registry: inventree\n    scope: global\n    key: R\n    type: string\n    default: ab\n    regex: '[a-z]+'\n",
		// invalid
		"",
		"settings:\n",
		"settings: {}\n",
		"other: 1\n",
		"settings: []\n---\nsettings: []\n",
		"settings:\n  - registry: nope\n    scope: global\n    key: A\n    type: string\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: A\n    type: string\n    default: x\n    bogus: 1\n",
		"settings:\n  - {registry: inventree, scope: global, key: A, type: string, default: x}\n  - {registry: inventree, scope: global, key: A, type: string, default: y}\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: B\n    type: boolean\n    default: yes\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: N\n    type: integer\n    default: \"11\"\n    min: 0\n    max: 10\n",
		"settings:\n  - registry: inventree\n    scope: global\n    key: R\n    type: string\n    default: x\n    regex: '('\n",
		"a: &a [*a, *a]\n",
		"settings: [\x00]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defs, err := catalog.Load(bytes.NewReader(data))
		if err != nil {
			if defs != nil {
				t.Errorf("Load returned %d definitions with error %v", len(defs), err)
			}
			return
		}
		if defs == nil {
			t.Fatal("Load returned nil definitions without an error")
		}
		seen := make(map[[3]string]int, len(defs))
		for i := range defs {
			d := &defs[i]
			if why := fsm.CheckDef(d); why != "" {
				t.Errorf("setting %d (%s/%s %q) accepted but CheckDef says: %s", i+1, d.Registry, d.Scope, d.Key, why)
			}
			id := [3]string{string(d.Registry), string(d.Scope), d.Key}
			if first, dup := seen[id]; dup {
				t.Errorf("setting %d (%s/%s %q) duplicates setting %d", i+1, d.Registry, d.Scope, d.Key, first)
			}
			seen[id] = i + 1
		}
	})
}
