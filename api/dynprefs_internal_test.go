package api

import (
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
)

// Tables for the dynamic-preferences dialect's emulation of Python's json
// module, Python's number parsing and Django's form fields. Expected values
// are what CPython 3.11 and Django 3.2 give.

func TestDynPyLoadsErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"value": 1 "x"}`, "Expecting ',' delimiter: line 1 column 13 (char 12)"},
		{`{"value": 1, "x"  2}`, "Expecting ':' delimiter: line 1 column 19 (char 18)"},
		{`{"value":1 "x"}`, "Expecting ',' delimiter: line 1 column 12 (char 11)"},
		{`{"value": 1, "x": 2 "y": 3}`, "Expecting ',' delimiter: line 1 column 21 (char 20)"},
		{`{`, "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"},
		{`{'value': 1}`, "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"},
		{`{"value": 1,}`, "Expecting property name enclosed in double quotes: line 1 column 13 (char 12)"},
		{`{"value":}`, "Expecting value: line 1 column 10 (char 9)"},
		{`[1,]`, "Expecting value: line 1 column 4 (char 3)"},
		{`[1 2]`, "Expecting ',' delimiter: line 1 column 4 (char 3)"},
		{`[`, "Expecting value: line 1 column 2 (char 1)"},
		{`  `, "Expecting value: line 1 column 3 (char 2)"},
		{`x`, "Expecting value: line 1 column 1 (char 0)"},
		{`-`, "Expecting value: line 1 column 1 (char 0)"},
		{`{"value": 1}x`, "Extra data: line 1 column 13 (char 12)"},
		{`01`, "Extra data: line 1 column 2 (char 1)"},
		{`1.`, "Extra data: line 1 column 2 (char 1)"},
		{`1e`, "Extra data: line 1 column 2 (char 1)"},
		{"{\n  \"value\": 1\n  \"x\": 2\n}", "Expecting ',' delimiter: line 3 column 3 (char 17)"},
		{`"abc`, "Unterminated string starting at: line 1 column 1 (char 0)"},
		{"\"a\tb\"", "Invalid control character at: line 1 column 3 (char 2)"},
		{`"a\qb"`, `Invalid \escape: line 1 column 3 (char 2)`},
		{`"\u12"`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`"\u12zz"`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`"\u0041`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`{"value": NaN}`, "Out of range float values are not JSON compliant: 'NaN'"},
		{`[Infinity]`, "Out of range float values are not JSON compliant: 'Infinity'"},
		{`-Infinity`, "Out of range float values are not JSON compliant: '-Infinity'"},
		{"\ufeff{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"},
		{"\"\xff\"", "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte"},
		{"\"\xe2\x82x\"", "'utf-8' codec can't decode bytes in position 1-2: invalid continuation byte"},
		{"\"\xe0\x80\"", "'utf-8' codec can't decode byte 0xe0 in position 1: invalid continuation byte"},
		{"\"é\" x", "Extra data: line 1 column 5 (char 4)"},
		{"1" + strings.Repeat("0", 4300), "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to increase the limit"},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), "Nested too deeply: line 1 column 65 (char 64)"},
	} {
		_, msg := dynPyLoads([]byte(c.in))
		if msg != c.want {
			t.Errorf("loads(%q) = %q, want %q", c.in, msg, c.want)
		}
	}
}

func TestDynPyLoadsValues(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a": 1, "b": [true, null, 1.5e3, "x"], "a": 2}`, `{'a': 2, 'b': [True, None, 1500.0, 'x']}`},
		{`"\ud83d\ude00 \u00e9"`, "😀 é"},
		{`"\ud800x"`, "\ufffdx"},
		{"\"é\"\xe2\x82", "é"}, // a sequence cut off at the end is dropped
		{`-0`, `0`},
		{`12345678901234567890`, `12345678901234567890`},
		{` [ 1 , { } ] `, `[1, {}]`},
	} {
		v, msg := dynPyLoads([]byte(c.in))
		if msg != "" {
			t.Errorf("loads(%q): %s", c.in, msg)
			continue
		}
		if got := pyStr(v); got != c.want {
			t.Errorf("str(loads(%q)) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDynPyDecimalStr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"111.11", "111.11"}, {"2.50", "2.50"}, {"5.00", "5.00"}, {"0", "0"}, {"-0", "-0"},
		{"1E+2", "1E+2"}, {"1e2", "1E+2"}, {"100", "100"}, {"0.0000001", "1E-7"}, {"0.000001", "0.000001"},
		{"1.5e3", "1.5E+3"}, {"  3.14  ", "3.14"}, {"+.5", "0.5"}, {"5.", "5"}, {"007.50", "7.50"},
		{"0.00", "0.00"}, {"1_000", "1000"}, {"١٢٣", "123"}, {"123e-2", "1.23"}, {"0E+2", "0E+2"},
		{"1.23E-5", "0.0000123"}, {"12e-9", "1.2E-8"},
	} {
		got, ok := dynPyDecimalStr(c.in)
		if !ok || got != c.want {
			t.Errorf("str(Decimal(%q)) = %q %v, want %q", c.in, got, ok, c.want)
		}
	}
	for _, bad := range []string{"", "zz", "NaN", "Infinity", "1e", "e5", ".", "1__0", "_1", "1_", "1.2.3", "True", "0x10"} {
		if got, ok := dynPyDecimalStr(bad); ok {
			t.Errorf("Decimal(%q) accepted as %q", bad, got)
		}
	}
}

func TestDynPyFloatAndInt(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1.5", "1.5"}, {" 2 ", "2.0"}, {"1_000.5", "1000.5"}, {"-.5", "-0.5"}, {"1e16", "1e+16"}, {"٣", "3.0"},
	} {
		lit, ok := dynPyFloatLiteral(c.in)
		if !ok || pyFloat(lit) != c.want {
			t.Errorf("float(%q) = %q %v, want %q", c.in, pyFloat(lit), ok, c.want)
		}
	}
	for _, bad := range []string{"x", "NaN", "inf", "", "1e", "1,5"} {
		if _, ok := dynPyFloatLiteral(bad); ok {
			t.Errorf("float(%q) accepted", bad)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"42", "42"}, {" -7\n", "-7"}, {"+5", "5"}, {"007", "7"}, {"1_000", "1000"}, {"٤٢", "42"},
	} {
		n, ok := pyParseInt(c.in)
		if !ok || n.String() != c.want {
			t.Errorf("int(%q) = %v %v, want %q", c.in, n, ok, c.want)
		}
	}
	for _, bad := range []string{"", "1.0", "abc", "1__0", "_1", "0x1", "- 1"} {
		if _, ok := pyParseInt(bad); ok {
			t.Errorf("int(%q) accepted", bad)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"12.0", "12"}, {"12.000  ", "12"}, {"12.", "12"}, {"1.0.0", "1.0"}, {"12.5", "12.5"},
	} {
		if got := dynStripDecimalZeros(c.in); got != c.want {
			t.Errorf("re_decimal.sub(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDynDuration(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"03:00:00", "03:00:00"}, {"1 02:03:04", "1 02:03:04"}, {"P1DT2H", "1 02:00:00"}, {"3600", "01:00:00"},
		{"1.5", "00:00:01.500000"}, {"1 day, 2:03:04", "1 02:03:04"}, {"3 days 04:05:06", "3 04:05:06"},
		{"-1:00", "-1 23:59:00"}, {"-1 02:03:04", "-1 02:03:04"}, {"-P1D", "-1 00:00:00"}, {"PT0.5S", "00:00:00.500000"},
		{"P", "00:00:00"}, {"15:30", "00:15:30"}, {"1:2:3.000004", "01:02:03.000004"}, {"3600\n", "01:00:00"},
		{"PT1,5H", "01:30:00"}, {"999999999 23:59:59.999999", "999999999 23:59:59.999999"}, {"00:00:00.1234567", "00:00:00.123456"},
		{"5 days", "5 00:00:00"},
	} {
		got, msg := dynParseDuration(c.in)
		if msg != "" || got != c.want {
			t.Errorf("duration(%q) = %q %q, want %q", c.in, got, msg, c.want)
		}
		d := &fsm.SettingDef{Type: fsm.TypeDuration}
		if msg == "" && fsm.ValidateSetting(d, got) != "" {
			t.Errorf("duration(%q) = %q is not canonical", c.in, got)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"bad", msgDynDuration}, {"True", msgDynDuration}, {"1e16", msgDynDuration}, {"1:2:3:4", msgDynDuration},
		{"1000000000 00:00:00", msgDynDurationBig}, {strings.Repeat("9", 40), msgDynDurationBig},
		{"-999999999 -00:00:01", msgDynDurationBig},
	} {
		if _, msg := dynParseDuration(c.in); msg != c.want {
			t.Errorf("duration(%q) message %q, want %q", c.in, msg, c.want)
		}
	}
}

func TestDynTemporal(t *testing.T) {
	def := func(ty fsm.SettingType) *fsm.SettingDef { return &fsm.SettingDef{Type: ty} }
	str := func(s string) pyValue { return pyValue{kind: 's', s: s} }
	for _, c := range []struct {
		ty       fsm.SettingType
		in, want string
	}{
		{fsm.TypeDate, "2020-02-29", "2020-02-29"},
		{fsm.TypeDate, " 10/25/2006 ", "2006-10-25"},
		{fsm.TypeDate, "10/25/06", "2006-10-25"},
		{fsm.TypeDate, "1/2/69", "1969-01-02"},
		{fsm.TypeDate, "Oct 25 2006", "2006-10-25"},
		{fsm.TypeDate, "oct 25, 2006", "2006-10-25"},
		{fsm.TypeDate, "25 October 2006", "2006-10-25"},
		{fsm.TypeDate, "2020-1-2", "2020-01-02"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05", "2020-01-02T03:04:05+00:00"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05Z", "2020-01-02T03:04:05+00:00"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05+02:00", "2020-01-02T03:04:05+02:00"},
		{fsm.TypeDateTime, "2020-01-02 03:04", "2020-01-02T03:04:00+00:00"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05.5-0530", "2020-01-02T03:04:05.500000-05:30"},
		{fsm.TypeDateTime, "1992-05-04T03:04:10.000150+00:00", "1992-05-04T03:04:10.000150+00:00"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05 +05", "2020-01-02T03:04:05+05:00"},
		{fsm.TypeDateTime, "2020-01-02", "2020-01-02T00:00:00+00:00"},
		{fsm.TypeDateTime, "10/25/2006 14:30:59.000200", "2006-10-25T14:30:59.000200+00:00"},
		{fsm.TypeDateTime, "2020-01-02T03:04:05+05:99", "2020-01-02T03:04:05+06:39"},
		{fsm.TypeTime, "09:30", "09:30:00"},
		{fsm.TypeTime, "09:30:15.5", "09:30:15.500000"},
		{fsm.TypeTime, "9:5:7", "09:05:07"},
	} {
		got, msg := dynClean(def(c.ty), str(c.in))
		if msg != "" || got != c.want {
			t.Errorf("%s %q = %q %q, want %q", c.ty, c.in, got, msg, c.want)
		}
	}
	for _, c := range []struct {
		ty   fsm.SettingType
		in   string
		want string
	}{
		{fsm.TypeDate, "29/02/2020", msgDynDate},
		{fsm.TypeDate, "2021-02-29", msgDynDate},
		{fsm.TypeDate, "bad", msgDynDate},
		{fsm.TypeDate, "  ", msgDynDate},
		{fsm.TypeDateTime, "2020-13-02T03:04:05", msgDynDateTime},
		{fsm.TypeDateTime, "2020-01-02T03:04:05+24:00", msgDynDateTime},
		{fsm.TypeDateTime, "2020-01-02t03:04:05", msgDynDateTime},
		{fsm.TypeTime, "24:00", msgDynTime},
		{fsm.TypeTime, "09:30:60", msgDynTime},
		{fsm.TypeDate, "", msgDynRequired},
	} {
		if _, msg := dynClean(def(c.ty), str(c.in)); msg != c.want {
			t.Errorf("%s %q: message %q, want %q", c.ty, c.in, msg, c.want)
		}
	}
}
