package api

import (
	"math/big"
	"strings"
	"unicode"
)

// Python built-ins that more than one dialect emulates: the InvenTree and
// django-dynamic-preferences dialects both read text as Python's int(),
// str.isspace and urllib.parse.unquote_plus read it, and all the dialects
// name the Python type of a parsed JSON value in DRF's "Expected a
// dictionary" message. Each is written once, here.

// pyIntMaxDigits is Python's limit on converting text to an int
// (sys.get_int_max_str_digits()).
const pyIntMaxDigits = 4300

// pyIsSpace is Python's str.isspace for one character: Go's
// unicode.IsSpace plus the ASCII separators U+001C to U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// pyDigit returns the value of a Unicode decimal digit (category Nd), as
// Python's int() and float() read any of them.
func pyDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	// Decimal digits come in runs of ten, each from 0 to 9.
	zero := r
	for unicode.Is(unicode.Nd, zero-1) {
		zero--
	}
	return int(r-zero) % 10, true
}

// pyDigitPart reads digits with single underscores between them, as
// Python's int(), float() and Decimal() accept, into ASCII digits. It
// fails on an empty input.
func pyDigitPart(rs []rune) (string, bool) {
	var b strings.Builder
	for i, r := range rs {
		if r == '_' {
			if i == 0 || i == len(rs)-1 || rs[i-1] == '_' {
				return "", false
			}
			continue
		}
		d, ok := pyDigit(r)
		if !ok {
			return "", false
		}
		b.WriteByte(byte('0' + d))
	}
	return b.String(), b.Len() > 0
}

// pyIntLiteral reads s as Python's int() reads a base-10 string: white
// space around it, an optional sign, decimal digits of any script with
// single underscores between them. It returns the sign and the digits in
// ASCII, leading zeros kept; it sets no limit on their number.
func pyIntLiteral(s string) (neg bool, digits string, ok bool) {
	rs := []rune(strings.TrimFunc(s, pyIsSpace))
	if len(rs) > 0 && (rs[0] == '+' || rs[0] == '-') {
		neg = rs[0] == '-'
		rs = rs[1:]
	}
	digits, ok = pyDigitPart(rs)
	return neg, digits, ok
}

// pyParseInt is Python's int() of a string in base 10, including its limit
// of pyIntMaxDigits digits.
func pyParseInt(s string) (*big.Int, bool) {
	neg, digits, ok := pyIntLiteral(s)
	if !ok || len(digits) > pyIntMaxDigits {
		return nil, false
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

// pyUnquotePlus is urllib.parse.unquote_plus(s, errors="replace"): "+" is
// a space, a "%" with two hex digits is a byte, any other "%" stays as it
// is, and bytes that do not decode as UTF-8 become U+FFFD.
func pyUnquotePlus(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if !strings.Contains(s, "%") {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := pyUnhex(s[i+1])
			lo, ok2 := pyUnhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// pyUnhex is the value of an ASCII hex digit.
func pyUnhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pyKindName is the Python type name of a JSON value of a kind (pyValue's
// kind byte), as json.loads would build it: null is NoneType, an object
// a dict.
func pyKindName(kind byte) string {
	switch kind {
	case 'n':
		return "NoneType"
	case 'b':
		return "bool"
	case 'i':
		return "int"
	case 'f':
		return "float"
	case 's':
		return "str"
	case 'a':
		return "list"
	}
	return "dict"
}
