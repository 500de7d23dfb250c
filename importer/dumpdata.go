package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// dumpObject is one object of Django's dumpdata output.
type dumpObject struct {
	Model  string                     `json:"model"`
	PK     json.RawMessage            `json:"pk"`
	Fields map[string]json.RawMessage `json:"fields"`
}

// readJSON reads a dumpdata export: a JSON array of objects, or objects one
// after another (JSON lines). Objects of models the reader does not know
// are counted and left out.
func (r *Reader) readJSON(name string, in io.Reader) ([]row, error) {
	br := bufio.NewReader(in)
	first, err := firstByte(br)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
	} else if first != '{' {
		return nil, fmt.Errorf("%w: not a dumpdata export (it starts with %q, not [ or {)", ErrFormat, first)
	}
	var rows []row
	for n := 1; ; n++ {
		if array && !dec.More() {
			break
		}
		var obj dumpObject
		if err := dec.Decode(&obj); err != nil {
			if !array && errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%w: object %d: %v", ErrFormat, n, err)
		}
		src := Source{File: name, Row: n}
		t, ok := r.tableByModel(obj.Model)
		if !ok {
			r.ignored[strings.ToLower(obj.Model)]++
			continue
		}
		if rw, ok := r.dumpRow(t, src, &obj); ok {
			rows = append(rows, rw)
		}
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
	}
	return rows, nil
}

// firstByte returns the first byte that is not white space, leaving it
// unread.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return 0, fmt.Errorf("%w: the file is empty", ErrFormat)
		}
		if err != nil {
			return 0, err
		}
		if b == 0xEF { // a UTF-8 byte order mark
			if next, err := br.Peek(2); err == nil && next[0] == 0xBB && next[1] == 0xBF {
				_, _ = br.Discard(2)
				continue
			}
		}
		if !bytes.ContainsRune([]byte(" \t\r\n"), rune(b)) {
			return b, br.UnreadByte()
		}
	}
}

// dumpRow turns a dumpdata object into a row, or records a problem.
func (r *Reader) dumpRow(t *table, src Source, obj *dumpObject) (row, bool) {
	rw := row{t: t, src: src, cols: make([]string, len(t.cols))}
	if len(obj.PK) > 0 && string(obj.PK) != "null" {
		pk, ok := jsonText(obj.PK)
		if !ok {
			r.problems = append(r.problems, problemAt(src, "", "", "the pk is not a number or a string"))
			return row{}, false
		}
		rw.pk = pk
	}
	for c, col := range t.cols {
		field := col
		if col == t.owner {
			field = strings.TrimSuffix(col, "_id")
		}
		if col == "id" {
			rw.cols[c] = rw.pk
			continue
		}
		raw, present := obj.Fields[field]
		if !present {
			if optionalCols[col] {
				continue
			}
			r.problems = append(r.problems, problemAt(src, "", "", fmt.Sprintf("the object has no field %q", field)))
			return row{}, false
		}
		if col == t.owner {
			ref, ok := jsonUserRef(raw)
			if !ok {
				r.problems = append(r.problems, problemAt(src, "", "",
					fmt.Sprintf("field %q is not a user's pk or natural key", field)))
				return row{}, false
			}
			rw.owner = ref
			continue
		}
		v, ok := jsonText(raw)
		if !ok {
			r.problems = append(r.problems, problemAt(src, "", "", fmt.Sprintf("field %q is not a string, number or boolean", field)))
			return row{}, false
		}
		rw.cols[c] = v
	}
	return rw, true
}

// jsonText reads a scalar as text: a string as it is, null as "", a number
// as its literal, a boolean as true or false.
func jsonText(raw json.RawMessage) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// jsonUserRef reads a foreign key to the user table: a pk, or a natural
// key ["username"] (dumpdata --natural-foreign).
func jsonUserRef(raw json.RawMessage) (userRef, bool) {
	var natural []string
	if json.Unmarshal(raw, &natural) == nil && natural != nil {
		if len(natural) != 1 || natural[0] == "" {
			return userRef{}, false
		}
		return userRef{username: natural[0]}, true
	}
	id, ok := jsonText(raw)
	if !ok || id == "" {
		return userRef{}, false
	}
	return userRef{id: id}, true
}
