package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
)

// encodingJSON is what encoding/json writes for v with HTML escaping off,
// which the hand-written encoders must reproduce byte for byte.
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// jsonStringCases are strings that take every branch of appendJSONString.
var jsonStringCases = []string{
	"", "plain", `"quoted"`, `back\slash`, "<script>&amp;</script>",
	"\b\f\n\r\t", "\x00\x01\x1f\x7f", "é ü 中文 🙂", "\u2028\u2029 line separators",
	"\xff", "a\xc3", "\xe2\x80", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too large",
	"mixed \x00<\"é\"> \xff\u2028 end",
}

// randomJSONString draws a string from an alphabet rich in the bytes
// appendJSONString treats specially, including broken UTF-8.
func randomJSONString(r *rand.Rand) string {
	pieces := []string{"a", "Z", " ", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\x7f", "\n", "\t",
		"é", "中", "🙂", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "\xf0\x9f", "\xed\xa0\x80"}
	var b []byte
	for range r.IntN(12) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := append([]string(nil), jsonStringCases...)
	for range 20000 {
		cases = append(cases, randomJSONString(r))
	}
	for _, s := range cases {
		if got, want := appendJSONString(nil, s), encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
	// Each byte of a string by itself, too.
	for c := range 256 {
		s := string([]byte{byte(c)})
		if got, want := appendJSONString(nil, s), encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestHandWrittenJSONMatchesEncodingJSON checks the answers written
// without reflection against what encoding/json writes for the values the
// handlers used to pass to respond.
func TestHandWrittenJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		msg := randomJSONString(r)
		if got, want := appendJSONObject1(nil, "detail", msg), encodingJSON(t, map[string]string{"detail": msg}); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONObject1(detail, %q) = %s, want %s", msg, got, want)
		}
		// Preferences in the state's (bytewise) key order, as an Open
		// edX GET of all of them answers.
		m := map[string]string{}
		for range r.IntN(6) {
			m[randomJSONString(r)] = randomJSONString(r)
		}
		var kvs []fsm.KV
		for _, k := range sortedStrings(m) {
			kvs = append(kvs, fsm.KV{Key: k, Value: m[k]})
		}
		if got, want := appendEdxPrefs(nil, kvs), encodingJSON(t, m); !bytes.Equal(got, want) {
			t.Fatalf("appendEdxPrefs(%q) = %s, want %s", kvs, got, want)
		}
		// A stored multiple choice, shown again without HTML escaping.
		items := []string{}
		for range r.IntN(4) {
			items = append(items, randomJSONString(r))
		}
		stored, _ := json.Marshal(items)
		var shown []string
		if err := json.Unmarshal(stored, &shown); err != nil {
			t.Fatal(err)
		}
		if got, want := dynRepr(fsm.TypeMultipleChoice, string(stored)), encodingJSON(t, shown); !bytes.Equal(got, want) {
			t.Fatalf("dynRepr(%s) = %s, want %s", stored, got, want)
		}
	}
	errs := &orderedErrors[[]string]{}
	errs.set("z<", []string{"b\u2028", "a"})
	errs.set("\xff", nil)
	errs.set("a", []string{})
	if got := encodingJSON(t, errs); string(got) != `{"z<":["b\u2028","a"],"\ufffd":null,"a":[]}` {
		t.Fatalf("orderedErrors = %s", got)
	}
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// randomDef draws a setting definition of any type, with or without the
// optional parts the renderers show.
func randomDef(r *rand.Rand, id uint64) *fsm.SettingDef {
	types := []fsm.SettingType{fsm.TypeString, fsm.TypeLongString, fsm.TypeBoolean, fsm.TypeInteger,
		fsm.TypeFloat, fsm.TypeDecimal, fsm.TypeChoice, fsm.TypeMultipleChoice, fsm.TypeDate,
		fsm.TypeDateTime, fsm.TypeTime, fsm.TypeDuration, fsm.TypeRelated, fsm.SettingType("unknown")}
	d := &fsm.SettingDef{ID: id, Key: randomJSONString(r), Type: types[r.IntN(len(types))]}
	switch r.IntN(4) {
	case 0, 1:
		d.Section = randomJSONString(r)
		d.Key = d.Section + "__" + d.Key
	case 2: // a section the key does not start with
		d.Section = randomJSONString(r)
	}
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	d.Name = pick("", randomJSONString(r))
	d.Description = pick("", randomJSONString(r))
	d.Units = pick("", randomJSONString(r))
	d.Method = pick("", "mail", randomJSONString(r))
	d.ModelName = pick("", "part.part", "Stock.StockItem", randomJSONString(r))
	d.Protected = r.IntN(4) == 0
	for range r.IntN(3) {
		d.Choices = append(d.Choices, fsm.Choice{Value: randomJSONString(r), DisplayName: randomJSONString(r)})
	}
	d.Default = pick("", "True", "False", "42", "-7", "1.5", "1e300", "2024-02-29T10:00:00+02:00", `["a","<b>"]`, randomJSONString(r))
	return d
}

// TestRenderersMatchEncodingJSON checks the hand-written encoders of the
// django-dynamic-preferences and InvenTree answers against what
// encoding/json writes for the same structs.
func TestRenderersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		d := randomDef(r, uint64(i+1))
		value := []string{d.Default, "True", "12", "0.25", `["<x>"]`, randomJSONString(r)}[r.IntN(6)]

		e := dynEntry{def: d, key: d.Key, value: value}
		if r.IntN(5) == 0 {
			e = dynEntry{key: randomJSONString(r) + "__" + randomJSONString(r), value: value}
		}
		if e.def != nil && e.def.Section != "" {
			if _, _, name := e.sectionName(); name != strings.TrimPrefix(e.def.Key, e.def.Section+dynSeparator) {
				t.Fatalf("sectionName of %q in section %q: name %q", e.def.Key, e.def.Section, name)
			}
		}
		p := renderDynPref(e)
		if got, want := p.appendJSON(nil), encodingJSON(t, p); !bytes.Equal(got, want) {
			t.Fatalf("dynPref %+v:\n got %s\nwant %s", p, got, want)
		}

		row := itRow{pk: uint64(r.Int64()), key: d.Key, def: d, value: value, user: uint64(r.IntN(1 << 20))}
		if r.IntN(5) == 0 {
			row.def = nil
		}
		g, u, n := itRenderGlobal(row), itRenderUser(row), itRenderNotification(row)
		for _, c := range []struct {
			got []byte
			v   any
		}{
			{g.appendJSON(nil), g}, {u.appendJSON(nil), u}, {n.appendJSON(nil), n},
			{itAppendRow(nil, row, fsm.ScopeGlobal), g},
			{itAppendRow(nil, row, fsm.ScopeUser), u},
			{itAppendRow(nil, row, fsm.ScopeNotification), n},
			{itAppendRows(nil, []itRow{row, row}, fsm.ScopeUser), []itUser{u, u}},
		} {
			if want := encodingJSON(t, c.v); !bytes.Equal(c.got, want) {
				t.Fatalf("row %+v:\n got %s\nwant %s", c.v, c.got, want)
			}
		}
		next, prev := randomJSONString(r), randomJSONString(r)
		page := itPage{Count: r.IntN(1000), Results: []itRow{row, row}, scope: fsm.ScopeNotification}
		if r.IntN(2) == 0 {
			page.Next = &next
		}
		if r.IntN(2) == 0 {
			page.Previous = &prev
		}
		old := oldITPage{Count: page.Count, Next: page.Next, Previous: page.Previous, Results: []any{n, n}}
		if got, want := page.appendJSON(nil), encodingJSON(t, old); !bytes.Equal(got, want) {
			t.Fatalf("page:\n got %s\nwant %s", got, want)
		}
	}
	// The empty lists.
	if got := itAppendRows(nil, nil, fsm.ScopeGlobal); string(got) != "[]" {
		t.Errorf("no rows = %s, want []", got)
	}
	empty := itPage{scope: fsm.ScopeUser}
	if got, want := empty.appendJSON(nil), encodingJSON(t, oldITPage{Results: []any{}}); !bytes.Equal(got, want) {
		t.Errorf("empty page = %s, want %s", got, want)
	}
	noChoices := itGlobal{}
	if got, want := noChoices.appendJSON(nil), encodingJSON(t, noChoices); !bytes.Equal(got, want) {
		t.Errorf("nil choices = %s, want %s", got, want)
	}
}

// oldITPage is how itPage was encoded before it was written by hand.
type oldITPage struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []any   `json:"results"`
}

// TestHeaderNamesCanonical checks that the header name constants set and
// read straight through the header maps are in canonical form.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, name := range []string{hdrAllow, hdrVary, hdrAccept, hdrAuthorization, hdrContentType, hdrXConsistency,
		hdrRequestID, hdrIndex, hdrConsistency, hdrKnownLeader, hdrLastContact} {
		if got := http.CanonicalHeaderKey(name); got != name {
			t.Errorf("header name %q is not canonical (%q)", name, got)
		}
	}
}
