package importer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// readCSV reads one table exported as CSV with a header row. The file's
// name says which table it holds; the header names its columns, in any
// order, with other columns ignored. A foreign key column may be named
// with or without its _id suffix. NULL (an empty unquoted field in psql's
// CSV) and the empty string both read as "".
func (r *Reader) readCSV(name string, in io.Reader) ([]row, error) {
	t, ok := r.tableByFile(name)
	if !ok {
		return nil, fmt.Errorf("%w: the file name does not say which table it holds: name it after the table, e.g. %s.csv (one of %s)",
			ErrFormat, productTables[0].name, strings.Join(Tables(r.userModel), ", "))
	}
	cr := csv.NewReader(in)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the file is empty; export it with a header row", ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		index[h] = i
	}
	// at[i] is the record field of t.cols[i], or -1 for a missing
	// optional column.
	at := make([]int, len(t.cols))
	var missing []string
	for c, col := range t.cols {
		i, ok := index[col]
		if !ok && col == t.owner {
			i, ok = index[strings.TrimSuffix(col, "_id")]
		}
		switch {
		case ok:
			at[c] = i
		case optionalCols[col]:
			at[c] = -1
		default:
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: table %s needs the columns %s; the header has %s",
			ErrFormat, t.name, strings.Join(missing, ", "), strings.Join(header, ","))
	}

	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		line, _ := cr.FieldPos(0)
		rw := row{t: t, src: Source{File: name, Row: line}, cols: make([]string, len(t.cols))}
		for c, i := range at {
			if i >= 0 {
				rw.cols[c] = rec[i]
			}
		}
		rw.pk = rw.col("id")
		if t.owner != "" {
			if rw.col(t.owner) == "" {
				r.problems = append(r.problems, problemAt(rw.src, "", "", "the row refers to no user ("+t.owner+" is empty)"))
				continue
			}
			rw.owner = userRef{id: rw.col(t.owner)}
		}
		rows = append(rows, rw)
	}
	return rows, nil
}
