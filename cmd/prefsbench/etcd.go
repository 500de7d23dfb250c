package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The etcd target drives etcd's v3 JSON gateway with the same operations
// and sizes as the prefsd target, so that the two can be compared:
//
//	write   POST /v3/kv/put    {"key": K, "value": V}
//	read    POST /v3/kv/range  {"key": K}                       (linearizable)
//	stale   POST /v3/kv/range  {"key": K, "serializable": true}
//	patch   POST /v3/kv/txn    {"success": [{"requestPut": ...}, ...]}
//
// Keys are "<prefix>/<user>/<key>" and values valueSize letters, the same
// bytes prefsd stores for a preference; keys and values travel base64 as
// the gateway requires. etcd has no users, so no token is needed.

// Targets prefsbench can drive.
const (
	targetPrefsd = "prefsd"
	targetEtcd   = "etcd"
)

// etcdKey returns the etcd key of user's key k.
func etcdKey(prefix, user, k string) string { return prefix + "/" + user + "/" + k }

// appendB64 appends the JSON string of s base64-encoded to b.
func appendB64(b []byte, s []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, s)
	return append(b, '"')
}

// etcdRequest builds the request of one operation of kind k against etcd.
func (w *workload) etcdRequest(k kind) (*http.Request, error) {
	user := w.users[w.rng.IntN(len(w.users))]
	key := func() []byte { return []byte(etcdKey(w.prefix, user, w.keys[w.rng.IntN(len(w.keys))])) }
	var path string
	b := make([]byte, 0, 2*(len(user)+w.valueSize+64))
	switch k {
	case kindWrite:
		path = "/v3/kv/put"
		b = append(b, `{"key":`...)
		b = appendB64(b, key())
		b = append(b, `,"value":`...)
		b = appendB64(b, w.value())
		b = append(b, '}')
	case kindRead, kindStale:
		path = "/v3/kv/range"
		b = append(b, `{"key":`...)
		b = appendB64(b, key())
		if k == kindStale {
			b = append(b, `,"serializable":true`...)
		}
		b = append(b, '}')
	case kindPatch:
		path = "/v3/kv/txn"
		n := min(2+w.rng.IntN(3), len(w.keys))
		b = append(b, `{"success":[`...)
		for i, ki := range w.distinctKeys(n) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"requestPut":{"key":`...)
			b = appendB64(b, []byte(etcdKey(w.prefix, user, w.keys[ki])))
			b = append(b, `,"value":`...)
			b = appendB64(b, w.value())
			b = append(b, `}}`...)
		}
		b = append(b, `]}`...)
	default:
		return nil, fmt.Errorf("unknown operation kind %v", k)
	}
	req, err := http.NewRequest(http.MethodPost, w.base()+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// etcdMaxTxnOps is etcd's default --max-txn-ops.
const etcdMaxTxnOps = 128

// prepareEtcd gives every benchmark key a value, as prepare does for
// prefsd, and waits until every member serves all of them from its own
// state.
func (a *admin) prepareEtcd(ctx context.Context, prefix string, users []string, keys, valueSize, parallel int) error {
	value := []byte(strings.Repeat("s", valueSize))
	var all [][]byte
	for _, u := range users {
		for i := range keys {
			all = append(all, []byte(etcdKey(prefix, u, keyName(i))))
		}
	}
	batches := (len(all) + etcdMaxTxnOps - 1) / etcdMaxTxnOps
	err := parallelDo(ctx, batches, parallel, func(ctx context.Context, i int) error {
		b := []byte(`{"success":[`)
		for j, k := range all[i*etcdMaxTxnOps : min((i+1)*etcdMaxTxnOps, len(all))] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"requestPut":{"key":`...)
			b = appendB64(b, k)
			b = append(b, `,"value":`...)
			b = appendB64(b, value)
			b = append(b, `}}`...)
		}
		b = append(b, `]}`...)
		status, out, err := a.call(ctx, a.addrs[0], http.MethodPost, "/v3/kv/txn", "", "application/json", b)
		if err != nil {
			return fmt.Errorf("seed etcd: %w", err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("seed etcd: %d %s", status, bytes.TrimSpace(out))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return parallelDo(ctx, len(a.addrs), parallel, func(ctx context.Context, i int) error {
		return a.etcdVisible(ctx, a.addrs[i], prefix, len(all))
	})
}

// etcdVisible waits until the member at base counts want keys under
// prefix in its own state.
func (a *admin) etcdVisible(ctx context.Context, base, prefix string, want int) error {
	start := []byte(prefix + "/")
	end := []byte(prefix + "0") // '0' follows '/'
	body := []byte(`{"key":`)
	body = appendB64(body, start)
	body = append(body, `,"range_end":`...)
	body = appendB64(body, end)
	body = append(body, `,"serializable":true,"count_only":true}`...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, out, err := a.call(ctx, base, http.MethodPost, "/v3/kv/range", "", "application/json", body)
		var r struct {
			// The gateway writes int64 fields as JSON strings.
			Count int64 `json:"count,string"`
		}
		if err == nil && status == http.StatusOK && json.Unmarshal(out, &r) == nil && r.Count >= int64(want) {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: keys not visible: %w", base, err)
			}
			return fmt.Errorf("%s: %d of %d keys visible: %d %s", base, r.Count, want, status, bytes.TrimSpace(out))
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
