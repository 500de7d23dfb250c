package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/fsm"
)

func TestITParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5", 5, true}, {"-5", -5, true}, {"+5", 5, true}, {" 7\n", 7, true}, {"\u2003 42\u3000", 42, true},
		{"007", 7, true}, {"-0", 0, true}, {"1_000", 1000, true}, {" +0_25 ", 25, true},
		{"١٢", 12, true}, {"\U0001D7D7", 9, true}, {"٣_٤", 34, true},
		{"9223372036854775807", 9223372036854775807, true}, {"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false}, {"99999999999999999999", 0, false},
		{"", 0, false}, {" ", 0, false}, {"-", 0, false}, {"+-1", 0, false}, {"1__0", 0, false}, {"_1", 0, false},
		{"1_", 0, false}, {"5.0", 0, false}, {"0x10", 0, false}, {"1e3", 0, false}, {"True", 0, false},
		{"5 5", 0, false}, {"²", 0, false}, {"Ⅻ", 0, false},
	} {
		got, ok := itParseInt(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("itParseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestITStr2Bool(t *testing.T) {
	for _, s := range []string{"1", "y", "Y", "yes", "YeS", "t", "true", "TRUE", "ok", "OK", "on", "On", "o\u212a"} {
		if !itStr2Bool(s) {
			t.Errorf("itStr2Bool(%q) = false", s)
		}
	}
	for _, s := range []string{"", "0", "n", "no", "false", "x", "None", "-1", "abcde", " yes", "yes ", "2", "tru"} {
		if itStr2Bool(s) {
			t.Errorf("itStr2Bool(%q) = true", s)
		}
	}
}

func TestITValidURL(t *testing.T) {
	for _, s := range []string{"", "  ", "http://localhost", "https://inventree", "HTTPS://Example.ORG/x?y=1",
		"http://localhost:8000/", "http://[::1]:8000/", "http://10.0.0.1", "https://user:pw@inventree.example.com",
		"https://bücher.example"} {
		if !itValidURL(s) {
			t.Errorf("itValidURL(%q) = false", s)
		}
	}
	for _, s := range []string{"inventree", "ftp://inventree", "http://", "http://a b", "localhost", "http://host:99999",
		"http://-bad.example", "http://exa_mple.com", "mailto:x@y", "//inventree"} {
		if itValidURL(s) {
			t.Errorf("itValidURL(%q) = true", s)
		}
	}
}

func TestITQuery(t *testing.T) {
	q := itParseQS("a=1&b=%20x+y&a=2&c&&d=%zz%4&e=%C3%A9&f=%ff")
	if got := strings.Join(q.keys, ","); got != "a,b,c,d,e,f" {
		t.Errorf("keys %s", got)
	}
	for k, want := range map[string]string{"a": "2", "b": " x y", "c": "", "d": "%zz%4", "e": "é", "f": "\uFFFD"} {
		if got, ok := q.get(k); !ok || got != want {
			t.Errorf("get(%q) = %q, %v; want %q", k, got, ok, want)
		}
	}
	if _, ok := q.get("zz"); ok {
		t.Error("get of a missing key succeeded")
	}
	got := q.with("offset", 20).without("f").encode()
	if want := "a=1&a=2&b=+x+y&c=&d=%25zz%254&e=%C3%A9&offset=20"; got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
}

func TestITQuote(t *testing.T) {
	if got := itQuote("/api/a b/é/~x_(y)!*'", "/:@&+$,!*'()"); got != "/api/a%20b/%C3%A9/~x_(y)!*'" {
		t.Errorf("path quote %s", got)
	}
	if got := itQuote("q=%C3%A9&x=<y>&z=\"", "/#%[]=:;$&()+,!?*@'"); got != "q=%C3%A9&x=%3Cy%3E&z=%22" {
		t.Errorf("query quote %s", got)
	}
}

func TestITMediaMatches(t *testing.T) {
	for _, tc := range []struct {
		given string
		want  bool
	}{
		{"application/json", true}, {" Application/JSON ; charset=utf-8", true}, {"*/*", true}, {"application/*", true},
		{"*/json", true}, {"*/*;q=0", true}, {"text/html", false}, {"", false}, {"*", false}, {"application", false},
		{"application/merge-patch+json", false}, {"text/*", false},
	} {
		if got := itMediaMatches("application/json", tc.given); got != tc.want {
			t.Errorf("itMediaMatches(json, %q) = %v", tc.given, got)
		}
	}
}

func TestITDumpString(t *testing.T) {
	var b strings.Builder
	itDumpString(&b, "é😀\"\\\n\r\t\b\f\x01\x7f~ /<>")
	if want := `"\u00e9\ud83d\ude00\"\\\n\r\t\b\f\u0001\u007f~ /<>"`; b.String() != want {
		t.Errorf("got %s, want %s", b.String(), want)
	}
	var v string
	if err := json.Unmarshal([]byte(b.String()), &v); err != nil || v != "é😀\"\\\n\r\t\b\f\x01\x7f~ /<>" {
		t.Errorf("round trip: %q %v", v, err)
	}
}

func TestITLimit(t *testing.T) {
	for in, want := range map[float64]string{1: "1", 0: "0", -3: "-3", 0.5: "0.5", 1e20: "1e+20", 2.25: "2.25"} {
		if got := itLimit(in); got != want {
			t.Errorf("itLimit(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestITPKs(t *testing.T) {
	d := &fsm.SettingDef{ID: 42}
	if got := itPK(d, 0); got != 42 {
		t.Errorf("global pk %d", got)
	}
	if got := itPK(d, 7); got != 7<<20|42 {
		t.Errorf("user pk %d", got)
	}
	seen := map[uint64]bool{}
	for _, u := range []uint64{0, 1, 2, 1 << 31} {
		for _, k := range []string{"A", "B", "LABEL_INLINE"} {
			pk := itObsolete(u, k)
			if pk < 1<<52 || pk >= 1<<53 || seen[pk] {
				t.Errorf("obsolete pk %d for %d/%s", pk, u, k)
			}
			seen[pk] = true
			if itObsolete(u, k) != pk {
				t.Errorf("obsolete pk for %d/%s is not stable", u, k)
			}
		}
	}
}

func TestITCoerce(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	boolean := &fsm.SettingDef{Type: fsm.TypeBoolean, Default: "False"}
	integer := &fsm.SettingDef{Type: fsm.TypeInteger, Default: "10", Min: f(1), Max: f(25)}
	choice := &fsm.SettingDef{Type: fsm.TypeChoice, Choices: []fsm.Choice{{Value: "A4", DisplayName: "A4"}}}
	stringChoice := &fsm.SettingDef{Type: fsm.TypeString, Choices: []fsm.Choice{{Value: "a", DisplayName: "A"}}}
	currency := &fsm.SettingDef{Type: fsm.TypeString, Validator: "currency_codes"}
	url := &fsm.SettingDef{Type: fsm.TypeString, Validator: "url"}
	float := &fsm.SettingDef{Type: fsm.TypeFloat, Min: f(0.5)}
	regex := &fsm.SettingDef{Type: fsm.TypeString, Regex: `[A-Z]+-\{ref\}`}
	date := &fsm.SettingDef{Type: fsm.TypeDate}
	long := strings.Repeat("x", 2001)
	for _, tc := range []struct {
		d    *fsm.SettingDef
		in   string
		want string // the canonical value, or the JSON errors
	}{
		{boolean, "yes", "True"}, {boolean, "No", "False"}, {boolean, "", "False"}, {boolean, "{'a': 1}", "False"},
		{boolean, long, `{"value":["Ensure this field has no more than 2000 characters."]}`},
		{integer, " 0_7 ", "7"}, {integer, "25", "25"},
		{integer, "0", `{"non_field_errors":["Ensure this value is greater than or equal to 1."]}`},
		{integer, "26", `{"non_field_errors":["Ensure this value is less than or equal to 25."]}`},
		{integer, "x", `{"non_field_errors":["Provided value is not a valid integer"]}`},
		{integer, long, `{"value":["Ensure this field has no more than 2000 characters."],"non_field_errors":["Provided value is not a valid integer"]}`},
		{choice, "A4", "A4"}, {choice, "", `{"non_field_errors":["Chosen value is not a valid option"]}`},
		{choice, "a4", `{"non_field_errors":["Chosen value is not a valid option"]}`},
		{stringChoice, "a", "a"}, {stringChoice, "b", `{"non_field_errors":["Chosen value is not a valid option"]}`},
		{currency, "usd, eur", "usd, eur"}, {currency, "USD,XYZ", `{"non_field_errors":["Invalid currency code: 'XYZ'"]}`},
		{url, "https://x", "https://x"}, {url, "x", `{"non_field_errors":["Enter a valid URL."]}`},
		{float, "1.5", "1.5"}, {float, "0.25", `{"non_field_errors":["Ensure this value is greater than or equal to 0.5."]}`},
		{float, "abc", `{"non_field_errors":["Provided value is not a valid float"]}`},
		{regex, "BO-{ref}", "BO-{ref}"}, {regex, "bo", `{"non_field_errors":["Enter a valid value."]}`},
		{date, "2024-02-30", `{"value":["Value does not pass validation checks"]}`}, {date, "2024-02-29", "2024-02-29"},
		{&fsm.SettingDef{Type: fsm.TypeString}, strings.Repeat("é", 1500), `{"value":["Ensure this field has no more than 2000 characters."]}`},
	} {
		v, errs := itCoerce(tc.d, tc.in)
		got := v
		if errs != nil {
			b, err := errs.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("itCoerce(%s, %.40q) = %s, want %s", tc.d.Type, tc.in, got, tc.want)
		}
	}
}

// A refusal by the state machine (a definition changed between the
// handler's checks and the write) answers as the handler's own checks do.
func TestITApplyError(t *testing.T) {
	min1 := 1.0
	d := &fsm.SettingDef{Key: "K", Type: fsm.TypeInteger, Min: &min1}
	cur := &fsm.SettingDef{Key: "C", Type: fsm.TypeString, Validator: "currency_codes"}
	for _, tc := range []struct {
		err    *fsm.Error
		d      *fsm.SettingDef
		v      string
		status int
		body   string
	}{
		{&fsm.Error{Code: fsm.ErrSettingUnknown.Code, Key: "K"}, d, "5", 404, `{"detail":"Not found."}`},
		{fsm.ErrUserNotFound, d, "5", 404, `{"detail":"Not found."}`},
		{&fsm.Error{Code: fsm.ErrSettingInvalid.Code, Key: "K", Reason: fsm.ReasonMin}, d, "0", 400,
			`{"non_field_errors":["Ensure this value is greater than or equal to 1."]}`},
		{&fsm.Error{Code: fsm.ErrSettingInvalid.Code, Key: "K", Reason: fsm.ReasonType}, d, "x", 400,
			`{"non_field_errors":["Provided value is not a valid integer"]}`},
		{&fsm.Error{Code: fsm.ErrSettingInvalid.Code, Key: "C", Reason: fsm.ReasonValidator}, cur, "XYZ", 400,
			`{"non_field_errors":["Invalid currency code: 'XYZ'"]}`},
		{&fsm.Error{Code: fsm.ErrSettingInvalid.Code, Key: "C", Reason: fsm.ReasonTooLong}, cur, "x", 400,
			`{"value":["Ensure this field has no more than 2000 characters."]}`},
		{&fsm.Error{Code: fsm.ErrSettingInvalid.Code, Key: "C", Reason: "definition: something"}, cur, "x", 400,
			`{"value":["Value does not pass validation checks"]}`},
	} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		itApplyError(c, tc.err, tc.d, tc.v)
		if w.Code != tc.status || w.Body.String() != tc.body {
			t.Errorf("%v: %d %s, want %d %s", tc.err, w.Code, w.Body.String(), tc.status, tc.body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%v: Content-Type %q", tc.err, ct)
		}
	}
}
