package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// splitArgs splits a fuzzed command line into arguments: on NUL when it has
// one (so that arguments may hold spaces), else on white space.
func splitArgs(s string) []string {
	if strings.ContainsRune(s, 0) {
		return strings.Split(s, "\x00")
	}
	return strings.Fields(s)
}

// FuzzConfigParse feeds arbitrary arguments and one PREFSD_* environment
// variable through Parse and Validate. Neither may panic, and a
// configuration that Validate accepts must hold the invariants the rest of
// prefsd relies on.
func FuzzConfigParse(f *testing.F) {
	seeds := []struct{ args, env, value string }{
		{"", "", ""},
		{"--node-id n1 --http-addr 127.0.0.1:8081 --raft-addr 127.0.0.1:8301", "CLUSTER_KEY", "secret"},
		{"--join 10.0.0.1:8080,10.0.0.2:8080 --cluster-key k --advertise-raft 10.0.0.3:8300", "LOG_LEVEL", "debug"},
		{"--raft-heartbeat-timeout=50ms\x00--raft-election-timeout=100ms\x00--raft-max-append-entries=1024", "SESSION_TTL", "1h"},
		{"--http-addr 0.0.0.0:8080", "ADVERTISE_HTTP", "node1.example:8080"},
		{"--log-format json --max-body-bytes 2048 --rate-limit-address 5", "RAFT_ELECTION_TIMEOUT", "2s"},
		// invalid
		{"--raft-max-append-entries 0", "", ""},
		{"--raft-max-append-entries 1025", "RAFT_MAX_APPEND_ENTRIES", "7"},
		{"--raft-heartbeat-timeout 2s --raft-election-timeout 1s", "", ""},
		{"--bootstrap --join a:1", "", ""},
		{"--join a:1", "CLUSTER_KEY", ""},
		{"--http-addr nope", "RAFT_ADDR", "also-nope"},
		{"--no-such-flag", "", ""},
		{"stray", "", ""},
		{"-h", "", ""},
		{"--session-ttl -5m", "APPLY_TIMEOUT", "0s"},
		{"", "RAFT_MAX_APPEND_ENTRIES", "99999999999999999999"},
		{"", "RATE_LIMIT_USER", "NaN"},
		{"--tls-cert-file c.pem", "JWT_LEEWAY", "1h"},
		{"--jwt-hs256-secret-file s --jwt-public-key-file p", "JWT_ISSUER", "https://issuer"},
	}
	for _, s := range seeds {
		f.Add(s.args, s.env, s.value)
	}
	f.Fuzz(func(t *testing.T, args, env, value string) {
		name := EnvPrefix + env
		getenv := func(k string) string {
			if k == name {
				return value
			}
			return ""
		}
		fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c := Default()
		if err := c.Parse(fs, splitArgs(args), getenv); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			if err.Error() == "" {
				t.Fatal("Validate failed with an empty message")
			}
			return
		}
		if c.NodeID == "" {
			t.Errorf("NodeID empty after Validate")
		}
		if c.AdvertiseHTTP == "" || c.AdvertiseRaft == "" {
			t.Errorf("advertise addresses not set: http %q raft %q", c.AdvertiseHTTP, c.AdvertiseRaft)
		}
		if c.ElectionTimeout < c.HeartbeatTimeout {
			t.Errorf("ElectionTimeout %v < HeartbeatTimeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
		}
		if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
			t.Errorf("MaxAppendEntries %d outside 1..1024", c.MaxAppendEntries)
		}
		if c.Bootstrap && len(c.Join) > 0 {
			t.Errorf("Bootstrap with Join %v", c.Join)
		}
		if len(c.Join) > 0 && c.ClusterKey == "" {
			t.Errorf("Join %v without ClusterKey", c.Join)
		}
	})
}
