package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Open edX stores every preference value as Python's str() of the parsed JSON
// value: a string as it is, 10 as "10", true as "True", {"int_key": 10} as
// "{'int_key': 10}". The functions here reproduce that byte for byte, so a
// client reading a value back sees what the original product would store.

// errNotJSON is returned for bodies that are not one JSON value.
var errNotJSON = errors.New("not a JSON value")

// pyValue is a parsed JSON value that remembers object key order, as
// Python's json module does.
type pyValue struct {
	kind   byte // 'n' null, 'b' bool, 'i' int, 'f' float, 's' string, 'a' array, 'o' object
	b      bool
	num    string // the number's literal
	s      string
	items  []pyValue
	keys   []string
	values []pyValue
}

// parsePy parses one JSON value. Duplicate object keys keep their first
// position and their last value, as a Python dict built from JSON does.
func parsePy(data []byte) (pyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parsePyValue(dec)
	if err != nil {
		return pyValue{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return pyValue{}, fmt.Errorf("%w: extra data after the value", errNotJSON)
	}
	return v, nil
}

// maxDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const maxDepth = 64

func parsePyValue(dec *json.Decoder) (pyValue, error) {
	return parsePyDepth(dec, 0)
}

func parsePyDepth(dec *json.Decoder, depth int) (pyValue, error) {
	if depth > maxDepth {
		return pyValue{}, fmt.Errorf("%w: nested too deeply", errNotJSON)
	}
	tok, err := dec.Token()
	if err != nil {
		return pyValue{}, fmt.Errorf("%w: %v", errNotJSON, err)
	}
	switch t := tok.(type) {
	case nil:
		return pyValue{kind: 'n'}, nil
	case bool:
		return pyValue{kind: 'b', b: t}, nil
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return pyValue{kind: 'f', num: string(t)}, nil
		}
		return pyValue{kind: 'i', num: string(t)}, nil
	case string:
		return pyValue{kind: 's', s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := pyValue{kind: 'a'}
			for dec.More() {
				item, err := parsePyDepth(dec, depth+1)
				if err != nil {
					return pyValue{}, err
				}
				v.items = append(v.items, item)
			}
			if _, err := dec.Token(); err != nil {
				return pyValue{}, fmt.Errorf("%w: %v", errNotJSON, err)
			}
			return v, nil
		case '{':
			v := pyValue{kind: 'o'}
			pos := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return pyValue{}, fmt.Errorf("%w: %v", errNotJSON, err)
				}
				k, _ := kt.(string)
				item, err := parsePyDepth(dec, depth+1)
				if err != nil {
					return pyValue{}, err
				}
				if i, dup := pos[k]; dup {
					v.values[i] = item
					continue
				}
				pos[k] = len(v.keys)
				v.keys = append(v.keys, k)
				v.values = append(v.values, item)
			}
			if _, err := dec.Token(); err != nil {
				return pyValue{}, fmt.Errorf("%w: %v", errNotJSON, err)
			}
			return v, nil
		}
	}
	return pyValue{}, fmt.Errorf("%w: unexpected %v", errNotJSON, tok)
}

// pyStr returns Python's str() of v: a string unquoted, anything else as
// its repr.
func pyStr(v pyValue) string {
	if v.kind == 's' {
		return v.s
	}
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v pyValue) {
	switch v.kind {
	case 'n':
		b.WriteString("None")
	case 'b':
		if v.b {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case 'i':
		b.WriteString(pyInt(v.num))
	case 'f':
		b.WriteString(pyFloat(v.num))
	case 's':
		b.WriteString(pyStrRepr(v.s))
	case 'a':
		b.WriteByte('[')
		for i, item := range v.items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, item)
		}
		b.WriteByte(']')
	case 'o':
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStrRepr(k))
			b.WriteString(": ")
			writeRepr(b, v.values[i])
		}
		b.WriteByte('}')
	}
}

// pyInt normalises a JSON integer literal as Python's int prints it.
func pyInt(lit string) string {
	if lit == "-0" {
		return "0"
	}
	return lit
}

// pyFloat formats a JSON number literal as Python's float repr: the
// shortest digits that round-trip, in fixed notation for exponents from -4
// to 15 (always with a fractional part) and in exponent notation otherwise.
func pyFloat(lit string) string {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return lit
	}
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // e.g. -1.2345e+06
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	sign := ""
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	var s string
	switch {
	case exp < 0:
		s = "0." + strings.Repeat("0", -exp-1) + digits
	case len(digits) > exp+1:
		s = digits[:exp+1] + "." + digits[exp+1:]
	default:
		s = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + s
}

// pyStrRepr returns Python's repr of a str: single-quoted unless the string
// holds a single quote and no double quote, with backslash escapes for the
// quote, backslash, \t \n \r, and \x, \u or \U for characters that are not
// printable.
func pyStrRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case !pyPrintable(r):
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyStrip is Python's str.strip(): it trims what str.isspace calls white
// space, which is Go's unicode.IsSpace plus the ASCII separators U+001C to
// U+001F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

// pyPrintable approximates Python's str.isprintable for one character:
// letters, marks, numbers, punctuation and symbols are printable, and so is
// the ASCII space; other separators, controls, format characters, private
// use and unassigned code points are not.
func pyPrintable(r rune) bool {
	if r == ' ' {
		return true
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}
