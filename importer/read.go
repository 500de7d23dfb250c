package importer

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Format is an export's file format.
type Format string

// The formats.
const (
	// FormatJSON is Django's dumpdata output: a JSON array of
	// {"model", "pk", "fields"} objects, or one such object a line
	// (dumpdata --format jsonl).
	FormatJSON Format = "json"
	// FormatCSV is one table with a header row naming its columns, as
	// psql's \copy ... CSV HEADER writes it; the file is named after the
	// table.
	FormatCSV Format = "csv"
)

// ErrFormat means a file could not be read as an export at all: it is not
// JSON or CSV, or it does not say which table it holds, or it lacks a
// column the table needs.
var ErrFormat = errors.New("importer: unreadable export")

// FormatOf guesses a file's format from its extension (.json, .jsonl or
// .csv, case-insensitively).
func FormatOf(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".jsonl":
		return FormatJSON, true
	case ".csv":
		return FormatCSV, true
	}
	return "", false
}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatJSON, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: use json or csv", s)
}

// Options configure a Reader.
type Options struct {
	// UserModel is the dumpdata label of the project's user model when it
	// is not Django's auth.user (e.g. "users.user", read from a CSV file
	// named users_user.csv).
	UserModel string
}

// Reader collects the rows of any number of exports, in any order, and
// builds one plan from them: a user table may come after the tables that
// refer to it.
type Reader struct {
	userModel string
	// tables are the tables the reader knows, the user table first.
	tables []table
	rows   []row
	// ignored counts dumpdata objects of models the reader does not know.
	ignored map[string]int
	// problems are rows that could not be read.
	problems []Problem
}

// NewReader returns an empty Reader.
func NewReader(o Options) *Reader {
	m := o.UserModel
	if m == "" {
		m = defaultUserModel
	}
	m = strings.ToLower(m)
	return &Reader{userModel: m, tables: append([]table{userTable(m)}, productTables...), ignored: map[string]int{}}
}

// row is one row of a known table, its columns as text.
type row struct {
	t   *table
	src Source
	// pk is the primary key, for the user table; "" when a dumpdata
	// export left it out (--natural-primary).
	pk string
	// cols holds the columns of t.cols, in that order; NULL and a
	// missing optional column read as "".
	cols []string
	// owner is the row's reference to the user table.
	owner userRef
}

// col returns the column name of the row.
func (rw *row) col(name string) string {
	if i := slices.Index(rw.t.cols, name); i >= 0 {
		return rw.cols[i]
	}
	return ""
}

// userRef refers to a user by primary key or, in a dumpdata export with
// --natural-foreign, by username.
type userRef struct {
	id       string
	username string
}

// String describes the reference for messages.
func (u userRef) String() string {
	if u.username != "" {
		return "user " + u.username
	}
	return "user id " + u.id
}

// Add reads one export. name is how problems refer to the file; for CSV its
// base name also says which table the file holds. Rows that cannot be read
// are kept as problems; an error means the file as a whole could not be
// read, and none of its rows are kept.
func (r *Reader) Add(name string, f Format, in io.Reader) error {
	var (
		rows []row
		err  error
	)
	mark := len(r.problems)
	switch f {
	case FormatJSON:
		rows, err = r.readJSON(name, in)
	case FormatCSV:
		rows, err = r.readCSV(name, in)
	default:
		err = fmt.Errorf("%w: unknown format %q", ErrFormat, f)
	}
	if err != nil {
		r.problems = r.problems[:mark]
		return fmt.Errorf("%s: %w", name, err)
	}
	r.rows = append(r.rows, rows...)
	return nil
}

// Ignored returns how many dumpdata objects of each model the reader did
// not know and left out.
func (r *Reader) Ignored() map[string]int {
	out := make(map[string]int, len(r.ignored))
	for k, v := range r.ignored {
		out[k] = v
	}
	return out
}

// parseBool reads a boolean column as databases export it: t/f (psql),
// 1/0 (SQLite, MySQL), true/false (JSON, any case).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "1", "y", "yes":
		return true, true
	case "f", "false", "0", "n", "no", "":
		return false, true
	}
	return false, false
}
