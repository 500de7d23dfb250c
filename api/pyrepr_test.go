package api

import (
	"errors"
	"strings"
	"testing"
)

// The expectations below are Python 3's str() of json.loads(input), as
// Open edX stores a preference value; each was checked against CPython
// 3.11.

func TestPyStr(t *testing.T) {
	cases := []struct {
		json string
		want string
	}{
		{`"plain"`, `plain`},
		{`""`, ``},
		{`10`, `10`},
		{`-7`, `-7`},
		{`0`, `0`},
		{`-0`, `0`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`true`, `True`},
		{`false`, `False`},
		{`null`, `None`},
		{`1.5`, `1.5`},
		{`100.0`, `100.0`},
		{`0.1`, `0.1`},
		{`1e16`, `1e+16`},
		{`1e15`, `1000000000000000.0`},
		{`1e-5`, `1e-05`},
		{`1e-4`, `0.0001`},
		{`0.0001`, `0.0001`},
		{`0.00001234`, `1.234e-05`},
		{`123456789012345680.0`, `1.2345678901234568e+17`},
		{`-0.0`, `-0.0`},
		{`1E5`, `100000.0`},
		{`2.5e-7`, `2.5e-07`},
		{`1.0`, `1.0`},
		{`3.14159`, `3.14159`},
		{`1e22`, `1e+22`},
		{`1e308`, `1e+308`},
		{`1e309`, `inf`},
		{`-1e400`, `-inf`},
		{`1e-400`, `0.0`},
		{`5e-324`, `5e-324`},
		{`9007199254740993.0`, `9007199254740992.0`},
		{`0.30000000000000004`, `0.30000000000000004`},
		{`1234567890123456.7`, `1234567890123456.8`},
		{`12345678901234567.0`, `1.2345678901234568e+16`},
		{`[1, 2]`, `[1, 2]`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`{"int_key": 10}`, `{'int_key': 10}`},
		{`{"a": {"b": [1, {"c": null}]}}`, `{'a': {'b': [1, {'c': None}]}}`},
		{`["it\u0027s"]`, `["it's"]`},
		{`["say \"hi\""]`, `['say "hi"']`},
		{`["it\u0027s \"both\""]`, `['it\'s "both"']`},
		{`["back\\slash"]`, `['back\\slash']`},
		{`["tab\tnew\nret\r"]`, `['tab\tnew\nret\r']`},
		{`["bell\u0007del\u007f"]`, `['bell\x07del\x7f']`},
		{`["nul\u0000"]`, `['nul\x00']`},
		{`["\u200b"]`, `['\u200b']`},
		{`["\u00a0"]`, `['\xa0']`},
		{`["\u00ad"]`, `['\xad']`},
		{`["\u0085"]`, `['\x85']`},
		{`["\u2028\u2029"]`, `['\u2028\u2029']`},
		{`["\ue000"]`, `['\ue000']`},
		{`["\ud83d\ude00"]`, `['😀']`},
		{`["\udb40\udc01"]`, `['\U000e0001']`},
		{`["é ü ß ⓟ 中文"]`, `['é ü ß ⓟ 中文']`},
		{`["\u3000"]`, `['\u3000']`},
		{`["\u2003"]`, `['\u2003']`},
		{`["\ufeff"]`, `['\ufeff']`},
		{`{"b": 1, "a": 2}`, `{'b': 1, 'a': 2}`},
		{`{"k": 1, "k": 2}`, `{'k': 2}`},
		{`{"x": 1, "y": 2, "x": 3}`, `{'x': 3, 'y': 2}`},
		{`[true, false, null]`, `[True, False, None]`},
		{`{"t": true, "n": null, "f": 1.5, "s": "s"}`, `{'t': True, 'n': None, 'f': 1.5, 's': 's'}`},
		{`[[[]]]`, `[[[]]]`},
		{`{"": ""}`, `{'': ''}`},
		{`{"it\u0027s": "v"}`, `{"it's": 'v'}`},
		{`"str with \u0027 quote"`, `str with ' quote`},
		{`"\u200b"`, "\u200b"},
		{`[-1.5e-10]`, `[-1.5e-10]`},
		{`[1e100]`, `[1e+100]`},
		{`[123e-2]`, `[1.23]`},
		// Exponents at the edges of repr's fixed notation (-4 ≤ exp < 16).
		{`9999999999999998.0`, `9999999999999998.0`},
		{`0.000123`, `0.000123`},
		{`-123.456e3`, `-123456.0`},
		// Nested quoting: repr chooses quotes per string.
		{`{"a": ["x'y", "x\"y", "x'\"y"]}`, `{'a': ["x'y", 'x"y', 'x\'"y']}`},
		{`{"key with 'quote'": {"inner \"dq\"": "ok"}}`, `{"key with 'quote'": {'inner "dq"': 'ok'}}`},
		{`{"nl": "a\nb", "uni": "ⓟ\u200b"}`, `{'nl': 'a\nb', 'uni': 'ⓟ\u200b'}`},
	}
	for _, c := range cases {
		v, err := parsePy([]byte(c.json))
		if err != nil {
			t.Errorf("parsePy(%s): %v", c.json, err)
			continue
		}
		if got := pyStr(v); got != c.want {
			t.Errorf("str(json.loads(%s)) = %q, want %q", c.json, got, c.want)
		}
	}
}

func TestPyStrRepr(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `''`},
		{`a`, `'a'`},
		{`'`, `"'"`},
		{`"`, `'"'`},
		{`'"`, `'\'"'`},
		{`\`, `'\\'`},
		{"\x00\x1f\x7f", `'\x00\x1f\x7f'`},
		{"\t\n\r\v\f", `'\t\n\r\x0b\x0c'`},
		{"\u0080\u009f\u00a0\u00a1\u00ff", `'\x80\x9f\xa0¡ÿ'`},
		{"\u0100\u2028\uffff", `'Ā\u2028\uffff'`},
		{"\U0001F600\U000E0001\U0010FFFF", `'😀\U000e0001\U0010ffff'`},
		{"\u0301", "'\u0301'"}, // a combining mark is printable
		{"\u00a0 \u3000", `'\xa0 \u3000'`},
	}
	for _, c := range cases {
		if got := pyStrRepr(c.in); got != c.want {
			t.Errorf("repr(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestPyStrip(t *testing.T) {
	// Python's str.isspace set: Go's unicode.IsSpace plus U+001C..U+001F.
	cases := []struct{ in, want string }{
		{"", ""},
		{"  x  ", "x"},
		{"\t\n\v\f\r x \r\n", "x"},
		{"\x1c\x1d\x1e\x1fx\x1f", "x"},
		{"\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000x\u3000", "x"},
		{"\u200bx\u200b", "\u200bx\u200b"}, // zero width space is not white space
		{"\ufeffx", "\ufeffx"},
		{"\u180ex", "\u180ex"},
		{"a b", "a b"},
		{"\x00x", "\x00x"},
	}
	for _, c := range cases {
		if got := pyStrip(c.in); got != c.want {
			t.Errorf("%q.strip() = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPyFloatLiterals(t *testing.T) {
	// pyFloat is given the JSON literal; these are the literals JSON allows
	// in odd spellings.
	cases := []struct{ lit, want string }{
		{`0e0`, `0.0`},
		{`-0e5`, `-0.0`},
		{`1E+2`, `100.0`},
		{`1e-0`, `1.0`},
		{`0.5E1`, `5.0`},
		{`1.7976931348623157e308`, `1.7976931348623157e+308`},
		{`2.2250738585072014e-308`, `2.2250738585072014e-308`},
		{`1e16`, `1e+16`},
		{`-1e-7`, `-1e-07`},
	}
	for _, c := range cases {
		if got := pyFloat(c.lit); got != c.want {
			t.Errorf("pyFloat(%s) = %s, want %s", c.lit, got, c.want)
		}
	}
}

func TestParsePyErrors(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `[1,]`, `{"a" 1}`, `{"a": 1,}`, `1 2`, `{} {}`, `NaN`, `Infinity`, `-Infinity`,
		`'a'`, `{'a': 1}`, `[1`, `"unterminated`, `tru`, `01`, `{1: 2}`, `"\x"`,
		strings.Repeat("[", 66) + strings.Repeat("]", 66),
		strings.Repeat(`{"a":`, 66) + "1" + strings.Repeat("}", 66),
	} {
		if v, err := parsePy([]byte(in)); err == nil {
			t.Errorf("parsePy(%.40q) = %s, want an error", in, pyStr(v))
		} else if !errors.Is(err, errNotJSON) {
			t.Errorf("parsePy(%.40q): %v does not wrap errNotJSON", in, err)
		}
	}
}

func TestParsePyDepth(t *testing.T) {
	// maxDepth (64) levels of nesting below the top value parse; one more
	// does not. Python's json would take about a thousand (its recursion
	// limit): prefsd refuses deeper bodies with a parse error.
	ok := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	v, err := parsePy([]byte(ok))
	if err != nil {
		t.Fatalf("%d levels: %v", maxDepth+1, err)
	}
	if got, want := pyStr(v), ok; got != want {
		t.Fatalf("str = %s, want %s", got, want)
	}
	deep := "[" + ok + "]"
	if _, err := parsePy([]byte(deep)); err == nil {
		t.Fatalf("%d levels parsed", maxDepth+2)
	}
}

func TestParsePyKeepsOrderAndLastDuplicate(t *testing.T) {
	v, err := parsePy([]byte(`{"z": 1, "a": 2, "m": {"y": 1, "b": 2}, "z": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.kind != 'o' || strings.Join(v.keys, ",") != "z,a,m" {
		t.Fatalf("keys %v, want z,a,m", v.keys)
	}
	if got := pyStr(v.values[0]); got != "3" {
		t.Fatalf("z = %s, want 3 (the last duplicate)", got)
	}
	if got := pyStr(v); got != "{'z': 3, 'a': 2, 'm': {'y': 1, 'b': 2}}" {
		t.Fatalf("str = %s", got)
	}
}

// Where prefsd cannot match Python, these record what it does instead.
func TestPyStrKnownDifferences(t *testing.T) {
	cases := []struct {
		json, want, python string
	}{
		// Go's decoder turns a lone surrogate into U+FFFD; Python keeps it.
		{`["\ud800"]`, "['\ufffd']", `['\ud800']`},
		// Invalid UTF-8 inside a string also becomes U+FFFD; DRF refuses the
		// body (it cannot decode it) with a 400 parse error.
		{"[\"\xff\"]", "['\ufffd']", "(400 JSON parse error)"},
	}
	for _, c := range cases {
		v, err := parsePy([]byte(c.json))
		if err != nil {
			t.Errorf("parsePy(%q): %v", c.json, err)
			continue
		}
		if got := pyStr(v); got != c.want {
			t.Errorf("str(%q) = %q, want %q (Python: %s)", c.json, got, c.want, c.python)
		}
	}
}
