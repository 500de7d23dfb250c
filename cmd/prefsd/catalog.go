package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/prefsd/prefsd/client"
	"github.com/prefsd/prefsd/config/catalog"
)

// catalogVerbs returns the verbs of `prefsd catalog apply|show`.
func catalogVerbs() []verb {
	return []verb{
		{"apply", "add or redefine settings from a YAML or JSON file", runCatalogApply},
		{"show", "list the settings catalogue in force", runCatalogShow},
	}
}

func runCatalogApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("catalog apply", "FILE",
		"apply sends the setting definitions in FILE (YAML or JSON, \"settings: [...]\")\nto the cluster: they are added, or replace definitions with the same key.\nWith --replace, every definition not in FILE is removed (stored values are\nkept and shown as obsolete).",
		opTimeout, getenv, stdout, stderr)
	replace := c.fs.Bool("replace", false, "remove every definition not in the file")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("catalog apply: %w", err)
	}
	defs, err := catalog.Load(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("catalog apply %s: %w", pos[0], err)
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	cat, err := cl.PutCatalog(ctx, *replace, defs)
	if err != nil {
		return err
	}
	return c.print(cat, func(w io.Writer) {
		fmt.Fprintf(w, "applied %d definitions from %s; the catalogue (version %d) now holds %d\n",
			len(defs), pos[0], cat.Version, len(cat.Settings))
	})
}

func runCatalogShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("catalog show", "", "show lists the settings catalogue in force; --json prints every field of\nevery definition.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 0, 0, func(ctx context.Context, cl *client.Client, _ []string) error {
		cat, err := cl.Catalog(ctx)
		if err != nil {
			return err
		}
		settings := make([]client.Setting, len(cat.Settings))
		for i, raw := range cat.Settings {
			if err := json.Unmarshal(raw, &settings[i]); err != nil {
				return fmt.Errorf("catalog show: %w", err)
			}
		}
		return c.print(cat, func(w io.Writer) {
			fmt.Fprintf(w, "catalogue version %d, %d settings\n", cat.Version, len(settings))
			fmt.Fprintln(w, "REGISTRY\tSCOPE\tKEY\tTYPE\tDEFAULT\tNAME")
			for _, s := range settings {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Registry, s.Scope, s.Key, s.Type, orDash(shorten(s.Default, 40)), s.Name)
			}
		})
	})
}

// shorten cuts s to at most n runes for a table cell, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
