package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prefsd/prefsd/importer"
)

// importHelp describes the import subcommand.
const importHelp = `import reads exports of django-dynamic-preferences', InvenTree's and Open
edX's tables (Django dumpdata JSON, or CSV with a header row in a file named
after its table) and writes their users, preferences and settings to the
cluster. Every file is checked first, and every value against the catalogue
in force; a row that cannot be imported is reported (file, row, key, reason)
and, unless --skip-invalid, nothing is changed. --dry-run only checks.
Importing the same files again changes nothing. docs/import.md has the
export commands for each product.`

// importPartBytes bounds the JSON of one request, well under the server's
// default --max-body-bytes (1 MiB).
const importPartBytes = 256 << 10

// importRequestTimeout bounds one request; a part writes up to a few
// thousand values.
const importRequestTimeout = 5 * time.Minute

// importPart is one request's body.
type importPart struct {
	DryRun      bool `json:"dry_run,omitempty"`
	SkipInvalid bool `json:"skip_invalid,omitempty"`
	importer.Plan
}

// importAnswer is the server's report on one part.
type importAnswer struct {
	Applied              bool               `json:"applied"`
	UsersCreated         []string           `json:"users_created"`
	UsersMatched         []string           `json:"users_matched"`
	PreferencesWritten   int                `json:"preferences_written"`
	PreferencesUnchanged int                `json:"preferences_unchanged"`
	SettingsWritten      int                `json:"settings_written"`
	SettingsUnchanged    int                `json:"settings_unchanged"`
	QuotaRaised          []importQuotaRaise `json:"quota_raised"`
	Invalid              []importer.Problem `json:"invalid"`
}

// importQuotaRaise is a user whose quota the import raised.
type importQuotaRaise struct {
	User  string           `json:"user"`
	Quota map[string]int64 `json:"quota"`
}

// importSummary is what `prefsd import` reports, and prints with --json.
type importSummary struct {
	DryRun  bool `json:"dry_run"`
	Applied bool `json:"applied"`
	Files   int  `json:"files"`
	// Items counts the users, preferences and settings read.
	Items                int                `json:"items"`
	UsersCreated         []string           `json:"users_created"`
	UsersMatched         []string           `json:"users_matched"`
	PasswordsCarried     int                `json:"passwords_carried"`
	PasswordsNotCarried  int                `json:"passwords_not_carried"`
	PreferencesWritten   int                `json:"preferences_written"`
	PreferencesUnchanged int                `json:"preferences_unchanged"`
	SettingsWritten      int                `json:"settings_written"`
	SettingsUnchanged    int                `json:"settings_unchanged"`
	QuotaRaised          []importQuotaRaise `json:"quota_raised"`
	// Invalid are the rows left out: read problems and values refused.
	Invalid []importer.Problem `json:"invalid"`
	// Ignored counts dumpdata objects of other models, by label.
	Ignored map[string]int `json:"ignored"`
}

// runImport runs `prefsd import ...` against a running node.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("import", "FILE...", importHelp, 0, getenv, stdout, stderr)
	formatName := c.fs.String("format", "", "json or csv (default: from each file's extension)")
	dryRun := c.fs.Bool("dry-run", false, "check everything, change nothing")
	skipInvalid := c.fs.Bool("skip-invalid", false, "import the valid rows and list the others")
	userModel := c.fs.String("user-model", "", "dumpdata label of a custom user model (default auth.user)")
	files, err := c.parse(args, 1, -1)
	if err != nil {
		return err
	}
	var format importer.Format
	if *formatName != "" {
		if format, err = importer.ParseFormat(*formatName); err != nil {
			return usagef("import: --format: %v", err)
		}
	}
	cl, err := newImportClient(c)
	if err != nil {
		return err
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}

	res, err := readImportFiles(files, format, *userModel)
	if err != nil {
		return err
	}
	sum := importSummary{
		DryRun: *dryRun, Files: len(files), Items: res.Plan.Len(),
		UsersCreated: []string{}, UsersMatched: []string{}, QuotaRaised: []importQuotaRaise{},
		PasswordsCarried: res.PasswordsCarried, PasswordsNotCarried: res.PasswordsDropped,
		Invalid: append([]importer.Problem{}, res.Problems...), Ignored: res.Ignored,
	}
	parts := importer.Split(res.Plan, importPartBytes)

	// Check every part first, so that nothing is written when any of
	// them holds an invalid row.
	var checked importSummary
	for i, part := range parts {
		ans, err := cl.post(ctx, importPart{DryRun: true, Plan: part})
		if err != nil {
			return fmt.Errorf("import: checking part %d of %d: %w", i+1, len(parts), err)
		}
		checked.add(ans)
	}
	sum.Invalid = append(sum.Invalid, checked.Invalid...)
	if *dryRun || (len(sum.Invalid) > 0 && !*skipInvalid) {
		sum.adopt(checked)
		if err := printImportSummary(stdout, &sum, c.json); err != nil {
			return err
		}
		switch {
		case len(sum.Invalid) > 0 && *dryRun:
			return fmt.Errorf("import: %d rows cannot be imported", len(sum.Invalid))
		case len(sum.Invalid) > 0:
			return fmt.Errorf("import: %d rows cannot be imported; nothing was changed (fix them, or pass --skip-invalid to import the rest)", len(sum.Invalid))
		}
		return nil
	}

	var done importSummary
	for i, part := range parts {
		ans, err := cl.post(ctx, importPart{SkipInvalid: *skipInvalid, Plan: part})
		if err == nil && !ans.Applied {
			err = errors.New("the node refused rows that passed the check: the catalogue or the users changed meanwhile")
		}
		done.add(ans)
		if err != nil {
			sum.Invalid = append(sum.Invalid[:len(res.Problems)], done.Invalid...)
			sum.adopt(done)
			_ = printImportSummary(stdout, &sum, c.json)
			return fmt.Errorf("import: part %d of %d: %w; parts before it were written: run the same import again to finish it (importing again changes nothing that is already there)", i+1, len(parts), err)
		}
	}
	sum.Invalid = append(sum.Invalid[:len(res.Problems)], done.Invalid...)
	sum.adopt(done)
	sum.Applied = true
	return printImportSummary(stdout, &sum, c.json)
}

// readImportFiles reads every file into one plan. format "" takes each
// file's format from its extension.
func readImportFiles(files []string, format importer.Format, userModel string) (importer.Result, error) {
	r := importer.NewReader(importer.Options{UserModel: userModel})
	for _, name := range files {
		f := format
		if f == "" {
			var ok bool
			if f, ok = importer.FormatOf(name); !ok {
				return importer.Result{}, usagef("import: %s: cannot tell its format from its name; pass --format json or csv", name)
			}
		}
		in, err := os.Open(name)
		if err != nil {
			return importer.Result{}, fmt.Errorf("import: %w", err)
		}
		err = r.Add(name, f, in)
		in.Close()
		if err != nil {
			return importer.Result{}, fmt.Errorf("import: %w", err)
		}
	}
	return r.Plan(), nil
}

// add folds one part's answer into s. A user created by an earlier part
// and matched by a later one (a user whose rows span parts) counts once,
// as created.
func (s *importSummary) add(a importAnswer) {
	for _, u := range a.UsersCreated {
		if !slices.Contains(s.UsersCreated, u) {
			s.UsersCreated = append(s.UsersCreated, u)
		}
	}
	for _, u := range a.UsersMatched {
		if !slices.Contains(s.UsersCreated, u) && !slices.Contains(s.UsersMatched, u) {
			s.UsersMatched = append(s.UsersMatched, u)
		}
	}
	s.PreferencesWritten += a.PreferencesWritten
	s.PreferencesUnchanged += a.PreferencesUnchanged
	s.SettingsWritten += a.SettingsWritten
	s.SettingsUnchanged += a.SettingsUnchanged
	for _, q := range a.QuotaRaised {
		// A user whose rows span parts is raised by each: keep the
		// highest limits.
		i := slices.IndexFunc(s.QuotaRaised, func(o importQuotaRaise) bool { return o.User == q.User })
		if i < 0 {
			s.QuotaRaised = append(s.QuotaRaised, importQuotaRaise{User: q.User, Quota: maps.Clone(q.Quota)})
			continue
		}
		for k, v := range q.Quota {
			s.QuotaRaised[i].Quota[k] = max(s.QuotaRaised[i].Quota[k], v)
		}
	}
	s.Invalid = append(s.Invalid, a.Invalid...)
}

// adopt takes the server's counts from o.
func (s *importSummary) adopt(o importSummary) {
	s.UsersCreated = append(s.UsersCreated[:0], o.UsersCreated...)
	s.UsersMatched = append(s.UsersMatched[:0], o.UsersMatched...)
	s.PreferencesWritten, s.PreferencesUnchanged = o.PreferencesWritten, o.PreferencesUnchanged
	s.SettingsWritten, s.SettingsUnchanged = o.SettingsWritten, o.SettingsUnchanged
	s.QuotaRaised = append(s.QuotaRaised[:0], o.QuotaRaised...)
	sort.SliceStable(s.Invalid, func(i, j int) bool {
		a, b := s.Invalid[i], s.Invalid[j]
		return a.File < b.File || a.File == b.File && a.Row < b.Row
	})
}

// printImportSummary prints the summary for people, or as JSON.
func printImportSummary(w io.Writer, s *importSummary, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	var b strings.Builder
	verb := func(done, would string) string {
		if s.Applied {
			return done
		}
		return would
	}
	fmt.Fprintf(&b, "read %s from %s", importPlural(s.Items, "item"), importPlural(s.Files, "file"))
	if s.DryRun {
		b.WriteString(" (dry run: nothing was changed)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "users: %d %s, %d matched by username\n", len(s.UsersCreated), verb("created", "to create"), len(s.UsersMatched))
	if s.PasswordsNotCarried > 0 {
		fmt.Fprintf(&b, "passwords: %d carried; %d not (a hash prefsd cannot verify, or an inactive user): those users log in with an API token, a JWT, or a password an admin sets\n",
			s.PasswordsCarried, s.PasswordsNotCarried)
	}
	fmt.Fprintf(&b, "preferences: %d %s, %d unchanged\n", s.PreferencesWritten, verb("written", "to write"), s.PreferencesUnchanged)
	fmt.Fprintf(&b, "settings: %d %s, %d unchanged\n", s.SettingsWritten, verb("written", "to write"), s.SettingsUnchanged)
	for _, q := range s.QuotaRaised {
		var fields []string
		for _, k := range slices.Sorted(maps.Keys(q.Quota)) {
			fields = append(fields, k+" "+strconv.FormatInt(q.Quota[k], 10))
		}
		fmt.Fprintf(&b, "quota %s for %s: %s\n", verb("raised", "to raise"), q.User, strings.Join(fields, ", "))
	}
	for _, model := range slices.Sorted(maps.Keys(s.Ignored)) {
		fmt.Fprintf(&b, "ignored: %s of model %s\n", importPlural(s.Ignored[model], "object"), model)
	}
	if len(s.Invalid) > 0 {
		what := "cannot be imported"
		if s.Applied {
			what = "skipped"
		}
		fmt.Fprintf(&b, "%s %s:\n", importPlural(len(s.Invalid), "row"), what)
		for _, p := range s.Invalid {
			fmt.Fprintf(&b, "  %s:%d", p.File, p.Row)
			if p.User != "" {
				fmt.Fprintf(&b, " user %s", p.User)
			}
			if p.Key != "" {
				fmt.Fprintf(&b, " key %s", p.Key)
			}
			fmt.Fprintf(&b, ": %s\n", p.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// importPlural is "1 row" or "n rows".
func importPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// importClient posts plan parts to a node's import endpoint, trying the
// --addr addresses in order until one can be reached.
type importClient struct {
	bases []string
	token string
	http  *http.Client
}

// newImportClient builds the client from the common flags.
func newImportClient(c *opCommand) (*importClient, error) {
	cl := &importClient{token: c.token}
	if cl.token == "" {
		cl.token = c.getenv("PREFSD_TOKEN")
	}
	for _, a := range strings.Split(c.addr, ",") {
		if a = strings.TrimRight(strings.TrimSpace(a), "/"); a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		cl.bases = append(cl.bases, a)
	}
	if len(cl.bases) == 0 {
		return nil, usagef("import: --addr: no address")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	caFile := c.caFile
	if caFile == "" {
		caFile = c.getenv("PREFSD_CA_FILE")
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cl.http = &http.Client{Transport: transport}
	return cl, nil
}

// post sends one part and returns the node's report. A refused plan (400
// with a report) is an answer, not an error; 429 and 503 are retried as
// Retry-After says, a few times.
func (c *importClient) post(ctx context.Context, part importPart) (importAnswer, error) {
	body, err := json.Marshal(part)
	if err != nil {
		return importAnswer{}, err
	}
	for attempt := 1; ; attempt++ {
		ans, retry, err := c.once(ctx, body)
		if retry <= 0 || attempt == 4 {
			return ans, err
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ans, ctx.Err()
		case <-t.C:
		}
	}
}

// once sends one request, to the first address that can be reached. It
// returns how long to wait before trying again, or 0 when the answer is
// final.
func (c *importClient) once(ctx context.Context, body []byte) (importAnswer, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, importRequestTimeout)
	defer cancel()
	var (
		res  *http.Response
		errs []error
	)
	for _, base := range c.bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/admin/import", bytes.NewReader(body))
		if err != nil {
			return importAnswer{}, 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Token "+c.token)
		}
		res, err = c.http.Do(req)
		var op *net.OpError
		if err != nil && errors.As(err, &op) && op.Op == "dial" && ctx.Err() == nil {
			errs = append(errs, err)
			continue // nothing reached this node: try the next
		}
		if err != nil {
			return importAnswer{}, 0, err
		}
		break
	}
	if res == nil {
		return importAnswer{}, 0, fmt.Errorf("no node reachable: %w", errors.Join(errs...))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return importAnswer{}, 0, err
	}
	var ans importAnswer
	decodeErr := json.Unmarshal(data, &ans)
	switch {
	case res.StatusCode == http.StatusOK && decodeErr == nil:
		return ans, 0, nil
	case res.StatusCode == http.StatusBadRequest && decodeErr == nil && ans.Invalid != nil:
		return ans, 0, nil // invalid rows: the report lists them
	case res.StatusCode == http.StatusTooManyRequests, res.StatusCode == http.StatusServiceUnavailable:
		wait := time.Second
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return ans, wait, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(data)))
	case res.StatusCode == http.StatusRequestEntityTooLarge:
		return ans, 0, fmt.Errorf("%s: %s (a single row is larger than the node's --max-body-bytes)", res.Status, strings.TrimSpace(string(data)))
	}
	return ans, 0, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(data)))
}
