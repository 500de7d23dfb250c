// Package catalog holds prefsd's default settings catalogue and reads
// catalogue documents.
//
// A catalogue document is YAML (or JSON, which YAML reads too) of the form
//
//	settings:
//	  - registry: inventree
//	    scope: global
//	    key: INVENTREE_INSTANCE
//	    type: string
//	    default: "InvenTree"
//
// with the fields of fsm.SettingDef. The default catalogue, embedded from
// default.yaml, defines InvenTree's global, user and notification settings
// and a django-dynamic-preferences registry modelled on that library's test
// application. The first leader of a new cluster installs it.
package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prefsd/prefsd/fsm"
)

// defaultYAML is the embedded default catalogue. It is a string, so that
// nothing can change it.
//
//go:embed default.yaml
var defaultYAML string

// document is the top level of a catalogue document.
type document struct {
	Settings []fsm.SettingDef `yaml:"settings"`
}

// Default returns the default catalogue, parsed from the embedded
// default.yaml. Each call returns a fresh slice that the caller may change.
func Default() ([]fsm.SettingDef, error) {
	defs, err := Load(strings.NewReader(defaultYAML))
	if err != nil {
		return nil, fmt.Errorf("default catalogue: %w", err)
	}
	return defs, nil
}

// Load reads one catalogue document from r. It refuses fields that
// fsm.SettingDef does not have, a definition that fsm.CheckDef refuses, and
// a key defined twice in the same registry and scope; the error names the
// definition at fault.
func Load(r io.Reader) ([]fsm.SettingDef, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var doc document
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("catalogue: empty document")
		}
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("catalogue: more than one document")
	}
	if doc.Settings == nil {
		return nil, errors.New("catalogue: no settings list")
	}
	seen := make(map[string]int, len(doc.Settings))
	for i := range doc.Settings {
		d := &doc.Settings[i]
		if why := fsm.CheckDef(d); why != "" {
			return nil, fmt.Errorf("catalogue: setting %d (%s): %s", i+1, describe(d), why)
		}
		id := string(d.Registry) + "\x00" + string(d.Scope) + "\x00" + d.Key
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("catalogue: setting %d (%s): defined twice (first as setting %d)", i+1, describe(d), first)
		}
		seen[id] = i + 1
	}
	return doc.Settings, nil
}

// describe names a definition in an error message.
func describe(d *fsm.SettingDef) string {
	return fmt.Sprintf("%s/%s key %q", d.Registry, d.Scope, d.Key)
}
