package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
)

func TestCatalogApplyAndShow(t *testing.T) {
	n, env := startNode(t)
	file := filepath.Join(t.TempDir(), "extra.yaml")
	doc := `settings:
  - registry: inventree
    scope: global
    key: EXTRA_LIMIT
    type: integer
    name: Extra limit
    default: "5"
    min: 1
`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut string // a regular expression stdout must match
		wantErr string // in stderr
	}{
		{"apply", []string{"catalog", "apply", file}, 0, `^applied 1 definitions from .*extra\.yaml; the catalogue \(version 2\) now holds \d+\n$`, ""},
		{"show", []string{"catalog", "show"}, 0, `(?m)^REGISTRY\s+SCOPE\s+KEY\s+TYPE\s+DEFAULT\s+NAME$[\s\S]*^inventree\s+global\s+EXTRA_LIMIT\s+integer\s+5\s+Extra limit$`, ""},
		{"show json", []string{"catalog", "show", "--json"}, 0, `"key": "EXTRA_LIMIT"`, ""},
		{"missing file", []string{"catalog", "apply", filepath.Join(t.TempDir(), "nope.yaml")}, 1, "", "no such file"},
		{"no verb", []string{"catalog"}, 2, "", "catalog: missing verb"},
		{"bad token", []string{"catalog", "show", "--token", "wrong"}, 1, "", "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := prefsd(t, env, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.wantOut != "" && !regexp.MustCompile(tt.wantOut).MatchString(res.stdout) {
				t.Fatalf("stdout:\n%s\nwant a match for %s", res.stdout, tt.wantOut)
			}
			if !strings.Contains(res.stderr, tt.wantErr) {
				t.Fatalf("stderr %q, want it to contain %q", res.stderr, tt.wantErr)
			}
		})
	}
	var shown struct {
		Version  uint64           `json:"version"`
		Settings []fsm.SettingDef `json:"settings"`
	}
	mustJSON(t, []byte(prefsd(t, env, "catalog", "show", "--json").stdout), &shown)
	if shown.Version != 2 || len(shown.Settings) < 2 {
		t.Fatalf("catalog show --json: version %d, %d settings", shown.Version, len(shown.Settings))
	}
	st := n.FSM().State()
	d, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeGlobal, "EXTRA_LIMIT")
	if !ok || d.Default != "5" || d.Min == nil || *d.Min != 1 {
		t.Fatalf("EXTRA_LIMIT = %+v, %v", d, ok)
	}
	if _, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeGlobal, "INVENTREE_INSTANCE"); !ok {
		t.Fatal("apply without --replace dropped the default catalogue")
	}
}
