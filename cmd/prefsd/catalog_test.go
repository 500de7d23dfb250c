package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

func TestCatalogApplyAndShow(t *testing.T) {
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})
	// The first leader installs the default catalogue, then the superuser.
	testnode.Eventually(t, 20*time.Second, func() error {
		st := n.FSM().State()
		if _, ok := st.UserByName("admin"); !ok || st.CatalogVersion() == 0 {
			return errors.New("no default catalogue or superuser yet")
		}
		return nil
	})
	env := map[string]string{"PREFSD_ADDR": n.Addr, "PREFSD_TOKEN": testnode.AdminToken}
	getenv := func(k string) string { return env[k] }
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
		wantErr string // "" means success
		wantOut string
	}{
		{"apply", []string{"apply", file}, "", "applied 1 definitions"},
		{"show", []string{"show"}, "", `"key": "EXTRA_LIMIT"`},
		{"missing file", []string{"apply", filepath.Join(t.TempDir(), "nope.yaml")}, "no such file", ""},
		{"no verb", nil, "expected apply or show", ""},
		{"bad token", []string{"show", "--token", "wrong"}, "401", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := runCatalog(context.Background(), tt.args, getenv, &out, &errs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v (stderr %s)", err, errs.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q, want it to contain %q", out.String(), tt.wantOut)
			}
		})
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
