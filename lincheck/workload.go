package lincheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP calls a Workload makes, by operation:
//
//	get            GET    /api/user/v1/preferences/{user}/{key}     200 "value" | 404
//	put            PATCH  /api/user/v1/preferences/{user}           {"key": "value"}, merge-patch; 204
//	delete         DELETE /api/user/v1/preferences/{user}/{key}     204 | 404
//	patch          PATCH  /api/user/v1/preferences/{user}           {"a": "v", "b": null}, merge-patch; 204
//	global get     GET    /api/settings/global/{KEY}/               200 {"key": KEY, "value": "v", ...}
//	global put     PATCH  /api/settings/global/{KEY}/               {"value": "v"}, JSON; 200
//
// A put or patch of the quota user that would take it over its
// max_preferences is refused with 400 and the body
// {"developer_message": "Limit of N User Preferences for the User has been exceeded.", "user_message": <the same>}.
// Reads name no consistency level, so they are linearizable (prefsd's
// default); the workload checks the X-Prefsd-Consistency header of every
// read it records to be sure.
//
// Setup uses the admin API with the admin token:
//
//	POST   /api/admin/users                    {"username": u[, "is_staff": true]}  201 | 400 (exists)
//	PATCH  /api/admin/users/{u}                {"is_staff": true}                   200 (staff user that existed)
//	POST   /api/admin/users/{u}/tokens         {"name": "lincheck"}                 201 {"token": ...}
//	PUT    /api/admin/users/{u}/quota          {"max_preferences": N}               200 {"max_preferences": N, ...}
//	GET    /api/admin/catalog?registry=inventree&scope=global                      200 {"settings": [...]}
//
// and, as the users themselves, clears preferences left from an earlier
// run (GET then PATCH with nulls) and sets the global setting back to its
// catalogue default (PATCH as the staff user).

// User is a prefsd user the workload acts as.
type User struct {
	Name  string
	Token string
}

// Target is what a Workload's operations act on, as Setup made it.
type Target struct {
	// Users are the ordinary users, whose writes are never refused.
	Users []User
	// Quota are the users whose max_preferences is QuotaLimit, none when
	// the workload has no quota operations. Each is its own partition of
	// the history, so more of them keep the check fast under many unknown
	// outcomes.
	Quota      []User
	QuotaLimit int
	// Staff is the staff user (is_staff, not a superuser) that writes the
	// global setting; writing a global setting needs staff status, reading
	// it any authenticated user.
	Staff User
	// GlobalKey is the InvenTree global setting read and written, empty
	// when the workload has no global operations, and GlobalDefault its
	// catalogue default, which a read reports as absent and the workload
	// never writes.
	GlobalKey     string
	GlobalDefault string
}

// Mix weighs what an operation is about: a key of an ordinary user, a key
// of the quota user, or the global setting. A zero Mix is DefaultMix().
// Within each, the kinds are fixed: for an ordinary user 40% get, 30% put,
// 10% delete, 20% patch; for the quota user 10% get, 50% put, 20% delete,
// 20% patch; for the global setting half reads, half writes.
type Mix struct {
	User, Quota, Global int
}

// DefaultMix returns the mix of a zero Options.Mix: 80% ordinary users,
// 10% the quota user, 10% the global setting.
func DefaultMix() Mix { return Mix{User: 80, Quota: 10, Global: 10} }

// Options shape a Workload. Zero values take the defaults noted.
type Options struct {
	// Users is how many ordinary users share the traffic (default 3), each
	// with Keys keys (default 4).
	Users int
	Keys  int
	// QuotaLimit is the max_preferences of QuotaUsers more users (default
	// 1) whose writes create keys against the limit (default 3);
	// QuotaKeys is how many different keys each writes (default twice the
	// limit). A negative limit leaves the quota users out.
	QuotaLimit int
	QuotaKeys  int
	QuotaUsers int
	// GlobalKey is a free-text InvenTree global setting without validators
	// whose value the workload writes and reads (default
	// INVENTREE_INSTANCE); Setup finds its default in the catalogue. "-"
	// leaves global settings out.
	GlobalKey string
	// Prefix names the workload's users (default "lin"): Prefix0,
	// Prefix1, ..., Prefix-quota0, Prefix-quota1, ... and Prefix-staff.
	Prefix string
	// Mix weighs the operations (default DefaultMix()).
	Mix Mix
	// Timeout bounds each request (default 2s): a request to a cut-off
	// node must turn into an unknown outcome quickly.
	Timeout time.Duration
	// Client sends the requests; by default the workload makes its own.
	Client *http.Client
	// Seed seeds the clients' choices.
	Seed uint64
}

func (o *Options) defaults() {
	if o.Users <= 0 {
		o.Users = 3
	}
	if o.Keys <= 0 {
		o.Keys = 4
	}
	if o.QuotaLimit == 0 {
		o.QuotaLimit = 3
	}
	if o.QuotaKeys <= 0 {
		o.QuotaKeys = 2 * max(o.QuotaLimit, 1)
	}
	if o.QuotaUsers <= 0 {
		o.QuotaUsers = 1
	}
	if o.GlobalKey == "" {
		o.GlobalKey = "INVENTREE_INSTANCE"
	}
	if o.Prefix == "" {
		o.Prefix = "lin"
	}
	if o.Mix == (Mix{}) {
		o.Mix = DefaultMix()
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
}

// A Workload is a set of sequential clients issuing random operations to
// prefsd nodes over HTTP and recording them in a History:
//
//   - per ordinary user, through the edX preferences API: get one key, put
//     one key (a merge-patch of one key), delete one key, and merge-patch
//     two or three keys with some nulls;
//   - the same for the quota user, whose puts and patches create keys
//     against its max_preferences limit and whose deletes make room;
//   - the global setting, through InvenTree's API: read it, write it.
//
// Every written value is unique. Answers are classified as
//
//   - definite: the statuses listed above, recorded as the outcome, which
//     the model then allows or not;
//   - indefinite: a transport error (including the request timeout), any
//     5xx (503 no leader, 504 outcome unknown or timed out, others), a 401
//     from a node that does not know the token yet, or a 429; all are
//     recorded as Unknown, which for a write means it may or may not have
//     taken effect, and for a read drops it;
//   - unexpected: anything else, such as a 403, another 400, or a body
//     that does not parse; it is a bug in prefsd or in the workload, and
//     Run returns it.
//
// Setup must run, once, before Run.
type Workload struct {
	h      *History
	opts   Options
	client *http.Client
	own    bool
	tgt    Target
	admin  string

	seq      atomic.Int64 // makes written values unique
	issued   atomic.Int64
	definite atomic.Int64

	mu     sync.Mutex
	counts map[string]int
}

// NewWorkload returns a workload recording into h.
func NewWorkload(h *History, opts Options) *Workload {
	opts.defaults()
	w := &Workload{h: h, opts: opts, client: opts.Client, counts: map[string]int{}}
	if w.client == nil {
		w.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32}}
		w.own = true
	}
	return w
}

// Close releases the idle connections of the workload's own HTTP client.
func (w *Workload) Close() {
	if w.own {
		w.client.CloseIdleConnections()
	}
}

// Target returns what Setup made.
func (w *Workload) Target() Target {
	t := w.tgt
	t.Users = append([]User(nil), t.Users...)
	return t
}

// Issued returns how many operations the clients have started.
func (w *Workload) Issued() int64 { return w.issued.Load() }

// Definite returns how many operations had a definite outcome.
func (w *Workload) Definite() int64 { return w.definite.Load() }

// Counts returns the answers so far by operation and status, such as
// "put 204", "quota-put 400", "global-get 200" or "delete error" (a
// transport error).
func (w *Workload) Counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.counts)
}

func (w *Workload) tally(what string) {
	w.mu.Lock()
	w.counts[what]++
	w.mu.Unlock()
}

// Setup prepares the target through the node at base: it creates the
// users (ordinary, quota and staff) and a token for each, sets the quota
// user's max_preferences, clears preferences an earlier run left, looks up
// the global setting's default and writes it back. It retries answers that
// mean "not now" (transport errors, 5xx, 429, and a 401 for a token just
// created) until ctx ends; it needs a superuser's adminToken.
func (w *Workload) Setup(ctx context.Context, base, adminToken string) error {
	w.admin = adminToken
	var tgt Target
	for i := range w.opts.Users {
		u, err := w.setupUser(ctx, base, fmt.Sprintf("%s%d", w.opts.Prefix, i), false)
		if err != nil {
			return err
		}
		tgt.Users = append(tgt.Users, u)
	}
	if w.opts.QuotaLimit > 0 {
		for i := range w.opts.QuotaUsers {
			u, err := w.setupQuotaUser(ctx, base, fmt.Sprintf("%s-quota%d", w.opts.Prefix, i))
			if err != nil {
				return err
			}
			tgt.Quota = append(tgt.Quota, u)
		}
		tgt.QuotaLimit = w.opts.QuotaLimit
	}
	if w.opts.GlobalKey != "-" {
		staff, err := w.setupUser(ctx, base, w.opts.Prefix+"-staff", true)
		if err != nil {
			return err
		}
		def, err := w.globalDefault(ctx, base)
		if err != nil {
			return err
		}
		var row struct {
			Value *string `json:"value"`
		}
		if err := w.retry(ctx, base, http.MethodPatch, globalPath(w.opts.GlobalKey), "Token "+staff.Token,
			map[string]string{"value": def}, accept(http.StatusOK, &row)); err != nil {
			return err
		}
		if row.Value == nil || *row.Value != def {
			return fmt.Errorf("lincheck setup: %s does not read back as its default %q", w.opts.GlobalKey, def)
		}
		tgt.Staff, tgt.GlobalKey, tgt.GlobalDefault = staff, w.opts.GlobalKey, def
	}
	w.tgt = tgt
	return nil
}

// setupQuotaUser sets up a user as setupUser does and sets its
// max_preferences to the workload's QuotaLimit.
func (w *Workload) setupQuotaUser(ctx context.Context, base, name string) (User, error) {
	u, err := w.setupUser(ctx, base, name, false)
	if err != nil {
		return User{}, err
	}
	var q struct {
		MaxPreferences int `json:"max_preferences"`
	}
	if err := w.retry(ctx, base, http.MethodPut, "/api/admin/users/"+url.PathEscape(u.Name)+"/quota", "Token "+w.admin,
		map[string]any{"max_preferences": w.opts.QuotaLimit}, accept(http.StatusOK, &q)); err != nil {
		return User{}, err
	}
	if q.MaxPreferences != w.opts.QuotaLimit {
		return User{}, fmt.Errorf("lincheck setup: quota of %s is %d after setting it to %d", u.Name, q.MaxPreferences, w.opts.QuotaLimit)
	}
	return u, nil
}

// setupUser creates a user, or takes the one an earlier attempt or run
// created, gives it a fresh token and clears its preferences.
func (w *Workload) setupUser(ctx context.Context, base, name string, staff bool) (User, error) {
	admin := "Token " + w.admin
	body := map[string]any{"username": name}
	if staff {
		body["is_staff"] = true
	}
	exists := false
	err := w.retry(ctx, base, http.MethodPost, "/api/admin/users", admin, body, func(status int, answer []byte) (bool, error) {
		switch {
		case status == http.StatusCreated:
			return true, nil
		case status == http.StatusBadRequest && bytes.Contains(answer, []byte("already exists")):
			exists = true
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return User{}, err
	}
	path := "/api/admin/users/" + url.PathEscape(name)
	if exists && staff {
		if err := w.retry(ctx, base, http.MethodPatch, path, admin, map[string]any{"is_staff": true}, accept(http.StatusOK, nil)); err != nil {
			return User{}, err
		}
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := w.retry(ctx, base, http.MethodPost, path+"/tokens", admin, map[string]any{"name": "lincheck"}, accept(http.StatusCreated, &tok)); err != nil {
		return User{}, err
	}
	if tok.Token == "" {
		return User{}, fmt.Errorf("lincheck setup: no token in the answer for %s", name)
	}
	u := User{Name: name, Token: tok.Token}
	if !exists {
		return u, nil
	}
	var prefs map[string]string
	if err := w.retry(ctx, base, http.MethodGet, "/api/user/v1/preferences/"+url.PathEscape(name), "Token "+u.Token, nil, accept(http.StatusOK, &prefs)); err != nil {
		return User{}, err
	}
	if len(prefs) == 0 {
		return u, nil
	}
	nulls := map[string]any{}
	for k := range prefs {
		nulls[k] = nil
	}
	err = w.retry(ctx, base, http.MethodPatch, "/api/user/v1/preferences/"+url.PathEscape(name), "Token "+u.Token, nulls, accept(http.StatusNoContent, nil))
	return u, err
}

// globalDefault returns the catalogue default of the global setting,
// checking that it is a free-text setting.
func (w *Workload) globalDefault(ctx context.Context, base string) (string, error) {
	var cat struct {
		Settings []struct {
			Key       string `json:"key"`
			Type      string `json:"type"`
			Default   string `json:"default"`
			Regex     string `json:"regex"`
			Validator string `json:"validator"`
			Choices   []any  `json:"choices"`
			Protected bool   `json:"protected"`
		} `json:"settings"`
	}
	if err := w.retry(ctx, base, http.MethodGet, "/api/admin/catalog?registry=inventree&scope=global", "Token "+w.admin, nil, accept(http.StatusOK, &cat)); err != nil {
		return "", err
	}
	for _, d := range cat.Settings {
		if d.Key != w.opts.GlobalKey {
			continue
		}
		if d.Type != "string" || d.Regex != "" || d.Validator != "" || len(d.Choices) > 0 || d.Protected {
			return "", fmt.Errorf("lincheck setup: global setting %s is not a free-text setting", d.Key)
		}
		return d.Default, nil
	}
	return "", fmt.Errorf("lincheck setup: the catalogue has no global setting %s", w.opts.GlobalKey)
}

// accept returns a retry decision that takes status, decoding the body
// into out if out is not nil, and retries on anything else that means
// "not now".
func accept(status int, out any) func(int, []byte) (bool, error) {
	return func(got int, answer []byte) (bool, error) {
		if got != status {
			return false, nil
		}
		if out == nil {
			return true, nil
		}
		if err := json.Unmarshal(answer, out); err != nil {
			return true, fmt.Errorf("decode %q: %w", answer, err)
		}
		return true, nil
	}
}

// retry sends a setup request until done takes the answer. Transport
// errors, 5xx, 429 and 401 are retried; another answer done does not take
// is an error.
func (w *Workload) retry(ctx context.Context, base, method, path, auth string, body any, done func(int, []byte) (bool, error)) error {
	var data []byte
	contentType := ""
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
		contentType = "application/json"
		if strings.HasPrefix(path, "/api/user/") {
			contentType = mediaMergePatch
		}
	}
	var last string
	pause := 50 * time.Millisecond
	for {
		status, answer, _, err := w.do(ctx, method, base+path, auth, contentType, data)
		switch {
		case err != nil:
			last = err.Error()
		case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusUnauthorized:
			last = fmt.Sprintf("%d %s", status, bytes.TrimSpace(answer))
		default:
			ok, derr := done(status, answer)
			if derr != nil {
				return fmt.Errorf("lincheck setup: %s %s: %w", method, path, derr)
			}
			if ok {
				return nil
			}
			return fmt.Errorf("lincheck setup: %s %s: %d %s", method, path, status, bytes.TrimSpace(answer))
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lincheck setup: %s %s: %w (last answer: %s)", method, path, ctx.Err(), last)
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

// do sends one request, bounded by the request timeout.
func (w *Workload) do(ctx context.Context, method, url, auth, contentType string, body []byte) (int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", auth)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, b, resp.Header, nil
}

// UnexpectedError is an answer the model has no place for: a bug in
// prefsd or in the workload.
type UnexpectedError struct {
	// Op is the operation, as Describe renders it, and User the user it
	// was sent as.
	Op   string
	User string
	// Node is the base URL the request went to.
	Node   string
	Status int
	Body   string
	// Why says what is wrong when the status alone does not.
	Why string
}

func (e *UnexpectedError) Error() string {
	s := fmt.Sprintf("lincheck: unexpected answer to %s as %s via %s: %d %s", e.Op, e.User, e.Node, e.Status, e.Body)
	if e.Why != "" {
		s += " (" + e.Why + ")"
	}
	return s
}

// Run is one sequential client, idx, of the workload: it issues random
// operations, one at a time, to nodes in turn (starting at nodes[idx mod
// len]) until ctx ends, recording each in the History as a Client of its
// own. A request under way when ctx ends is finished (within the request
// timeout), so that ending a run adds no unknown outcomes. Each definite
// outcome calls progress, which may be nil. Run returns nil when ctx
// ends, or an *UnexpectedError for an answer the model does not allow
// for, which must fail the test. Clients with different idx make
// different choices; Run may be called again with the same idx, since
// written values are unique across the whole workload.
func (w *Workload) Run(ctx context.Context, idx int, nodes []string, progress func()) error {
	if len(nodes) == 0 {
		return errors.New("lincheck: Run without nodes")
	}
	if len(w.tgt.Users) == 0 {
		return errors.New("lincheck: Run before Setup")
	}
	c := &client{
		w: w, idx: idx, rec: w.h.NewClient(), nodes: nodes, next: idx,
		rng: rand.New(rand.NewPCG(w.opts.Seed, uint64(idx))),
	}
	for ctx.Err() == nil {
		w.issued.Add(1)
		definite, err := c.step(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		if definite {
			w.definite.Add(1)
			if progress != nil {
				progress()
			}
		}
	}
	return nil
}

// client is one sequential client of a Workload.
type client struct {
	w     *Workload
	idx   int
	rec   *Client
	rng   *rand.Rand
	nodes []string
	next  int
}

// value returns a value never written before by this workload.
func (c *client) value() string {
	return fmt.Sprintf("c%d-%d", c.idx, c.w.seq.Add(1))
}

// pick chooses the next operation and the user it acts as.
func (c *client) pick() (Input, User) {
	w, t := c.w, &c.w.tgt
	mix := w.opts.Mix
	if len(t.Quota) == 0 {
		mix.Quota = 0
	}
	if t.GlobalKey == "" {
		mix.Global = 0
	}
	r := c.rng.IntN(max(mix.User+mix.Quota+mix.Global, 1))
	switch {
	case r < mix.Global:
		if c.rng.IntN(2) == 0 {
			return Input{Kind: Get, User: GlobalUser(t.GlobalKey), Key: t.GlobalKey}, t.Users[c.rng.IntN(len(t.Users))]
		}
		return Input{Kind: Put, User: GlobalUser(t.GlobalKey), Key: t.GlobalKey, Value: c.value()}, t.Staff
	case r < mix.Global+mix.Quota:
		u := t.Quota[c.rng.IntN(len(t.Quota))]
		key := func() string { return fmt.Sprintf("q%d", c.rng.IntN(w.opts.QuotaKeys)) }
		switch q := c.rng.IntN(10); {
		case q < 1:
			return Input{Kind: Get, User: u.Name, Key: key()}, u
		case q < 6:
			return Input{Kind: Put, User: u.Name, Key: key(), Value: c.value(), Quota: t.QuotaLimit}, u
		case q < 8:
			return Input{Kind: Delete, User: u.Name, Key: key()}, u
		}
		return c.patch(u, key, t.QuotaLimit), u
	}
	u := t.Users[c.rng.IntN(len(t.Users))]
	key := func() string { return fmt.Sprintf("k%d", c.rng.IntN(w.opts.Keys)) }
	switch r := c.rng.IntN(10); {
	case r < 4:
		return Input{Kind: Get, User: u.Name, Key: key()}, u
	case r < 7:
		return Input{Kind: Put, User: u.Name, Key: key(), Value: c.value()}, u
	case r < 8:
		return Input{Kind: Delete, User: u.Name, Key: key()}, u
	}
	return c.patch(u, key, 0), u
}

// patch builds a merge-patch of two or three distinct keys (fewer when
// keys are few), about a quarter of them nulls.
func (c *client) patch(u User, key func() string, quota int) Input {
	in := Input{Kind: Patch, User: u.Name, Quota: quota}
	seen := map[string]bool{}
	for range 2 + c.rng.IntN(2) {
		k := key()
		if seen[k] {
			continue
		}
		seen[k] = true
		f := Field{Key: k}
		if c.rng.IntN(4) == 0 {
			f.Delete = true
		} else {
			f.Value = c.value()
		}
		in.Patch = append(in.Patch, f)
	}
	return in
}

const mediaMergePatch = "application/merge-patch+json"

// outcome classifies an answer.
type outcome int

const (
	definite   outcome = iota
	indefinite         // may or may not have taken effect
	notSent            // certainly took no effect and observed nothing
	unexpected
)

// neverSent reports whether a request failed before any byte reached a
// server: its connection could not be made. An error on a connection that
// was already open is not that, since the server may have read the request.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// step issues one operation to the next node and records it. It reports
// whether the outcome was definite.
func (c *client) step(ctx context.Context) (bool, error) {
	w := c.w
	base := c.nodes[c.next%len(c.nodes)]
	c.next++
	in, u := c.pick()
	global := strings.HasPrefix(in.User, "global:")
	auth := "Token " + u.Token

	call := c.rec.Invoke(in)
	var (
		status int
		body   []byte
		header http.Header
		err    error
	)
	switch {
	case global && in.Kind == Get:
		status, body, header, err = w.do(ctx, http.MethodGet, base+globalPath(in.Key), auth, "", nil)
	case global:
		b, _ := json.Marshal(map[string]string{"value": in.Value})
		status, body, header, err = w.do(ctx, http.MethodPatch, base+globalPath(in.Key), auth, "application/json", b)
	case in.Kind == Get:
		status, body, header, err = w.do(ctx, http.MethodGet, base+prefsPath(u.Name, in.Key), auth, "", nil)
	case in.Kind == Delete:
		status, body, header, err = w.do(ctx, http.MethodDelete, base+prefsPath(u.Name, in.Key), auth, "", nil)
	default:
		patch := map[string]any{}
		if in.Kind == Put {
			patch[in.Key] = in.Value
		}
		for _, f := range in.Patch {
			if f.Delete {
				patch[f.Key] = nil
			} else {
				patch[f.Key] = f.Value
			}
		}
		b, _ := json.Marshal(patch)
		status, body, header, err = w.do(ctx, http.MethodPatch, base+prefsPath(u.Name, ""), auth, mediaMergePatch, b)
	}
	name := in.Kind.String()
	switch {
	case global:
		name = "global-" + name
	case strings.HasPrefix(in.User, w.opts.Prefix+"-quota"):
		name = "quota-" + name
	}
	if err != nil {
		if neverSent(err) {
			w.tally(name + " refused")
			call.NotSent()
			return false, nil
		}
		w.tally(name + " error")
		call.Unknown()
		return false, nil
	}
	w.tally(fmt.Sprintf("%s %d", name, status))

	out, kind, why := c.classify(in, global, status, body, header)
	switch kind {
	case definite:
		call.Return(out)
		return true, nil
	case indefinite:
		call.Unknown()
		return false, nil
	case notSent:
		call.NotSent()
		return false, nil
	}
	call.Unknown()
	return false, &UnexpectedError{
		Op: Describe(in, Output{Unknown: true}), User: u.Name, Node: base,
		Status: status, Body: string(bytes.TrimSpace(body)), Why: why,
	}
}

// classify turns an answer into an outcome; why says what is wrong with
// an unexpected one.
func (c *client) classify(in Input, global bool, status int, body []byte, header http.Header) (out Output, kind outcome, why string) {
	switch {
	case status >= 500:
		return Output{}, indefinite, ""
	case status == http.StatusUnauthorized || status == http.StatusTooManyRequests:
		// Refused before reaching the log: by a node that does not know
		// the token yet, or by the rate limiter.
		return Output{}, notSent, ""
	}
	if in.Kind == Get && (status == http.StatusOK || status == http.StatusNotFound) {
		if got := header.Get("X-Prefsd-Consistency"); got != "linearizable" {
			return Output{}, unexpected, fmt.Sprintf("read at consistency %q, not linearizable", got)
		}
	}
	switch {
	case global && in.Kind == Get && status == http.StatusOK:
		var row struct {
			Key   string  `json:"key"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(body, &row); err != nil || row.Value == nil || row.Key != in.Key {
			return Output{}, unexpected, "not the setting's row"
		}
		if *row.Value == c.w.tgt.GlobalDefault {
			return Output{}, definite, ""
		}
		return Output{Found: true, Value: *row.Value}, definite, ""
	case global && in.Kind == Put && status == http.StatusOK:
		return Output{}, definite, ""
	case global:
		return Output{}, unexpected, ""
	case in.Kind == Get && status == http.StatusOK:
		var v string
		if err := json.Unmarshal(body, &v); err != nil {
			return Output{}, unexpected, err.Error()
		}
		return Output{Found: true, Value: v}, definite, ""
	case (in.Kind == Get || in.Kind == Delete) && status == http.StatusNotFound:
		return Output{}, definite, ""
	case in.Kind == Delete && status == http.StatusNoContent:
		return Output{Found: true}, definite, ""
	case (in.Kind == Put || in.Kind == Patch) && status == http.StatusNoContent:
		return Output{}, definite, ""
	case (in.Kind == Put || in.Kind == Patch) && status == http.StatusBadRequest:
		// A count-quota refusal; the model decides whether it was due.
		var msg struct {
			Developer string `json:"developer_message"`
		}
		want := fmt.Sprintf("Limit of %d User Preferences for the User has been exceeded.", in.Quota)
		if json.Unmarshal(body, &msg) == nil && msg.Developer == want {
			return Output{Refused: true}, definite, ""
		}
		if strings.HasSuffix(msg.Developer, "User Preferences for the User has been exceeded.") {
			return Output{}, unexpected, "a count-quota refusal with another limit"
		}
	}
	return Output{}, unexpected, ""
}

func prefsPath(user, key string) string {
	p := "/api/user/v1/preferences/" + url.PathEscape(user)
	if key != "" {
		p += "/" + url.PathEscape(key)
	}
	return p
}

func globalPath(key string) string {
	return "/api/settings/global/" + url.PathEscape(key) + "/"
}
