package lincheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// classify sorts answers into definite outcomes, unknown ones and
// unexpected ones.
func TestClassify(t *testing.T) {
	w := NewWorkload(NewHistory(), Options{})
	w.tgt = Target{GlobalKey: "G", GlobalDefault: "dflt", QuotaLimit: 2}
	c := &client{w: w}
	lin := http.Header{"X-Prefsd-Consistency": {"linearizable"}}
	stale := http.Header{"X-Prefsd-Consistency": {"stale"}}
	quotaBody := `{"developer_message":"Limit of 2 User Preferences for the User has been exceeded.","user_message":"Limit of 2 User Preferences for the User has been exceeded."}`
	gget := Input{Kind: Get, User: GlobalUser("G"), Key: "G"}
	gput := Input{Kind: Put, User: GlobalUser("G"), Key: "G", Value: "v"}
	for _, tc := range []struct {
		name   string
		in     Input
		global bool
		status int
		body   string
		header http.Header
		out    Output
		kind   outcome
	}{
		{"get 200", get("a", "k"), false, 200, `"v1"`, lin, saw("v1"), definite},
		{"get 404", get("a", "k"), false, 404, ``, lin, missing, definite},
		{"get 200 not a string", get("a", "k"), false, 200, `{"k":"v"}`, lin, Output{}, unexpected},
		{"get at another consistency", get("a", "k"), false, 200, `"v1"`, stale, Output{}, unexpected},
		{"get 503", get("a", "k"), false, 503, `{}`, nil, Output{}, indefinite},
		{"get 401", get("a", "k"), false, 401, `{}`, nil, Output{}, notSent},
		{"put 204", put("a", "k", "v"), false, 204, ``, nil, ok, definite},
		{"put 504", put("a", "k", "v"), false, 504, `{}`, nil, Output{}, indefinite},
		{"put 500", put("a", "k", "v"), false, 500, `{}`, nil, Output{}, indefinite},
		{"put 429", put("a", "k", "v"), false, 429, `{}`, nil, Output{}, notSent},
		{"put 403", put("a", "k", "v"), false, 403, ``, nil, Output{}, unexpected},
		{"quota put refused", qput("q", "k", "v"), false, 400, quotaBody, nil, refused, definite},
		{"quota patch refused", qpatch("q", set("k", "v")), false, 400, quotaBody, nil, refused, definite},
		{"refusal with another limit", put("a", "k", "v"), false, 400, quotaBody, nil, Output{}, unexpected},
		{"other 400", qput("q", "k", "v"), false, 400, `{"developer_message":"Limit of 100 bytes of User Preferences for the User has been exceeded."}`, nil, Output{}, unexpected},
		{"delete 204", del("a", "k"), false, 204, ``, nil, gone, definite},
		{"delete 404", del("a", "k"), false, 404, ``, nil, missing, definite},
		{"global get", gget, true, 200, `{"pk":1,"key":"G","value":"v"}`, lin, saw("v"), definite},
		{"global get of the default", gget, true, 200, `{"pk":1,"key":"G","value":"dflt"}`, lin, missing, definite},
		{"global get of another key", gget, true, 200, `{"pk":2,"key":"H","value":"v"}`, lin, Output{}, unexpected},
		{"global get at another consistency", gget, true, 200, `{"pk":1,"key":"G","value":"v"}`, stale, Output{}, unexpected},
		{"global put", gput, true, 200, `{"pk":1,"key":"G","value":"v"}`, nil, ok, definite},
		{"global put by a non-staff user", gput, true, 403, `{"detail":"..."}`, nil, Output{}, unexpected},
		{"global put 503", gput, true, 503, `{}`, nil, Output{}, indefinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, kind, _ := c.classify(tc.in, tc.global, tc.status, []byte(tc.body), tc.header)
			if kind != tc.kind || (kind == definite && out != tc.out) {
				t.Errorf("classify = %+v, %d; want %+v, %d", out, kind, tc.out, tc.kind)
			}
		})
	}
}

// Run records every operation and stops at the first unexpected answer,
// which it returns.
func TestRunStopsAtUnexpectedAnswer(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 5 {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	h := NewHistory()
	w := NewWorkload(h, Options{Seed: 1, Timeout: time.Second, Mix: Mix{User: 1}})
	defer w.Close()
	w.tgt = Target{Users: []User{{Name: "u", Token: "t"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.Run(ctx, 0, []string{srv.URL}, nil)
	var ue *UnexpectedError
	if !errors.As(err, &ue) || ue.Status != http.StatusForbidden || ue.Node != srv.URL {
		t.Fatalf("Run = %v, want an UnexpectedError for the 403", err)
	}
	if w.Issued() != 5 || w.Definite() != 0 {
		t.Errorf("issued %d, definite %d; want 5, 0", w.Issued(), w.Definite())
	}
	n, unknown, dropped := h.Stats()
	if n != unknown || n+dropped != 5 {
		t.Errorf("history: %d ops, %d unknown, %d dropped; want every one unknown or dropped, 5 in all", n, unknown, dropped)
	}
	total := 0
	for _, v := range w.Counts() {
		total += v
	}
	if total != 5 {
		t.Errorf("counts %v add up to %d, want 5", w.Counts(), total)
	}
}

// Run refuses to start without Setup or nodes.
func TestRunNeedsSetup(t *testing.T) {
	w := NewWorkload(NewHistory(), Options{})
	if err := w.Run(context.Background(), 0, []string{"http://127.0.0.1:1"}, nil); err == nil {
		t.Errorf("Run before Setup succeeded")
	}
	w.tgt = Target{Users: []User{{Name: "u"}}}
	if err := w.Run(context.Background(), 0, nil, nil); err == nil {
		t.Errorf("Run without nodes succeeded")
	}
}

// A refused connection is known not to have reached a server; an error on
// an open connection is not.
func TestNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = http.Get("http://" + addr + "/")
	if err == nil || !neverSent(err) {
		t.Errorf("GET to a closed port: %v; neverSent = false, want true", err)
	}
	if neverSent(errors.New("read: connection reset by peer")) {
		t.Error("neverSent of a read error = true, want false")
	}
}
