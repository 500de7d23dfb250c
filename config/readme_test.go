package config_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/config"
)

var updateReadme = flag.Bool("update", false, "rewrite the README's flag table from the flags")

// The README's configuration table is generated from the flags: this test
// fails when they differ, and `go test ./config -run TestReadmeFlagTable
// -update` rewrites the table.
func TestReadmeFlagTable(t *testing.T) {
	const (
		path  = "../README.md"
		begin = "<!-- flags:begin (generated: go test ./config -run TestReadmeFlagTable -update) -->\n"
		end   = "<!-- flags:end -->\n"
	)
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", path, strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	want := flagTable()
	got := string(readme[i+len(begin) : j])
	if got == want {
		return
	}
	if *updateReadme {
		out := append(append(append([]byte(nil), readme[:i+len(begin)]...), want...), readme[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the flag table in %s", path)
		return
	}
	t.Errorf("the flag table in %s is out of date; run go test ./config -run TestReadmeFlagTable -update\nwant:\n%s", path, want)
}

// flagTable renders every flag, its environment variable, default and
// meaning as a Markdown table.
func flagTable() string {
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	c := config.Default()
	c.RegisterFlags(fs)
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = "`" + f.DefValue + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, config.EnvName(f.Name), def,
			strings.ReplaceAll(f.Usage, "|", `\|`))
	})
	return b.String()
}
