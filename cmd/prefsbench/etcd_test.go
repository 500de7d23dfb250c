package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// TestEtcdRequest checks the etcd target's request bodies: base64 keys
// under the prefix, values of the configured size, and two to four
// distinct keys in a patch transaction.
func TestEtcdRequest(t *testing.T) {
	w := newWorkload(0, 1, []string{"http://e1"}, []string{"u0", "u1"}, nil, 8, 20, mix{1, 1, 1, 1})
	w.etcd, w.prefix = true, "pb"
	decode := func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("not base64: %q", s)
		}
		return string(b)
	}
	checkKey := func(k string) {
		if !strings.HasPrefix(k, "pb/u") || !strings.Contains(k, "/bench-") {
			t.Errorf("key %q is not prefix/user/key", k)
		}
	}
	tests := []struct {
		k    kind
		path string
	}{{kindWrite, "/v3/kv/put"}, {kindRead, "/v3/kv/range"}, {kindStale, "/v3/kv/range"}, {kindPatch, "/v3/kv/txn"}}
	for _, tt := range tests {
		t.Run(tt.k.String(), func(t *testing.T) {
			for range 50 {
				req, err := w.request(tt.k)
				if err != nil {
					t.Fatal(err)
				}
				if req.URL.Path != tt.path || req.Method != "POST" {
					t.Fatalf("%s %s, want POST %s", req.Method, req.URL.Path, tt.path)
				}
				raw, _ := io.ReadAll(req.Body)
				var body struct {
					Key          string `json:"key"`
					Value        string `json:"value"`
					Serializable bool   `json:"serializable"`
					Success      []struct {
						RequestPut struct{ Key, Value string } `json:"requestPut"`
					} `json:"success"`
				}
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("body %s: %v", raw, err)
				}
				switch tt.k {
				case kindWrite:
					checkKey(decode(body.Key))
					if v := decode(body.Value); len(v) != 20 {
						t.Errorf("value %q is not 20 bytes", v)
					}
				case kindRead, kindStale:
					checkKey(decode(body.Key))
					if body.Serializable != (tt.k == kindStale) {
						t.Errorf("serializable = %v for %s", body.Serializable, tt.k)
					}
				case kindPatch:
					if n := len(body.Success); n < 2 || n > 4 {
						t.Fatalf("%d puts in a patch, want 2 to 4", n)
					}
					seen := map[string]bool{}
					for _, op := range body.Success {
						k := decode(op.RequestPut.Key)
						checkKey(k)
						if seen[k] {
							t.Errorf("key %q twice in one patch", k)
						}
						seen[k] = true
					}
				}
			}
		})
	}
}
