package api

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"
)

// Every answer of the dialects is JSON as Django REST framework's
// JSONRenderer writes it: compact, with non-ASCII characters and <, >, &
// as they are. This file holds the encoding behind respond, kept cheap
// because every request runs through it: pooled encoders for values only
// encoding/json can write, and appendJSONString for the strings and flat
// objects the hot handlers answer with, written without reflection.

// jsonEncoder is an encoder without HTML escaping and the buffer it writes
// into. Both are pooled, so that an answer costs neither a new encoder nor
// a buffer grown from nothing.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// maxPooledJSON is the largest buffer put back in the pool: one huge answer
// (a whole catalogue, say) should not keep its memory for the life of the
// process.
const maxPooledJSON = 64 << 10

// encodeJSON encodes v as json.Encoder does with SetEscapeHTML(false),
// without the newline it appends, and calls fn with the bytes. They are
// valid only during the call.
func encodeJSON(v any, fn func([]byte) error) error {
	e := jsonEncoders.Get().(*jsonEncoder)
	err := e.enc.Encode(v)
	if err == nil {
		err = fn(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")))
	}
	if e.buf.Cap() <= maxPooledJSON {
		e.buf.Reset()
		jsonEncoders.Put(e)
	}
	return err
}

// marshalNoEscape returns v's JSON as encodeJSON writes it.
func marshalNoEscape(v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return appendJSONString(nil, s), nil
	}
	var out []byte
	err := encodeJSON(v, func(b []byte) error {
		out = bytes.Clone(b)
		return nil
	})
	return out, err
}

// jsonHex is encoding/json's hexadecimal alphabet for \u escapes.
const jsonHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes a string with HTML escaping off: '"' and '\' escaped with a
// backslash, \b \f \n \r \t by name, other control characters as \u00XX,
// U+2028 and U+2029 as \u2028 and \u2029, and each byte of invalid UTF-8
// as \ufffd; everything else, including <, >, & and DEL, as it is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONMember appends `"key":"value"` to a JSON object being written.
func appendJSONMember(dst []byte, key, value string) []byte {
	dst = appendJSONString(dst, key)
	dst = append(dst, ':')
	return appendJSONString(dst, value)
}

// appendJSONObject1 appends the one-member object {key: value}, as respond
// writes a gin.H holding one string.
func appendJSONObject1(b []byte, key, value string) []byte {
	b = append(b, '{')
	b = appendJSONMember(b, key, value)
	return append(b, '}')
}

// appendJSONOptString appends a *string as encoding/json writes one: null
// for nil.
func appendJSONOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

// appendJSONRaw appends a json.RawMessage as encoding/json writes one whose
// bytes are already compact and valid, as every one prefsd builds is: the
// bytes as they are, or null for nil.
func appendJSONRaw(dst []byte, raw json.RawMessage) []byte {
	if raw == nil {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}
