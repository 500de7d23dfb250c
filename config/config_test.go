package config

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := c.Parse(fs, args, func(k string) string { return env[k] })
	return c, err
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*testing.T, Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("got %+v, want the defaults", c)
				}
			},
		},
		{
			name: "flags",
			args: []string{"--node-id", "n2", "--join", "a:1, b:2,,c:3", "--raft-election-timeout", "3s", "--bootstrap=false"},
			check: func(t *testing.T, c Config) {
				if c.NodeID != "n2" || !reflect.DeepEqual(c.Join, []string{"a:1", "b:2", "c:3"}) || c.ElectionTimeout != 3*time.Second {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "environment fills flags not given",
			env:  map[string]string{"PREFSD_DATA_DIR": "/var/lib/prefsd", "PREFSD_CLUSTER_KEY": "k", "PREFSD_JOIN": "h:1,h:2", "PREFSD_BOOTSTRAP": "true"},
			check: func(t *testing.T, c Config) {
				if c.DataDir != "/var/lib/prefsd" || c.ClusterKey != "k" || len(c.Join) != 2 || !c.Bootstrap {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "flags win over the environment",
			args: []string{"--data-dir", "flag"},
			env:  map[string]string{"PREFSD_DATA_DIR": "env"},
			check: func(t *testing.T, c Config) {
				if c.DataDir != "flag" {
					t.Errorf("data dir %q, want the flag's", c.DataDir)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"stray argument", []string{"extra"}, nil, `"extra"`},
		{"bad environment value", nil, map[string]string{"PREFSD_APPLY_TIMEOUT": "soon"}, "PREFSD_APPLY_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad http addr", func(c *Config) { c.HTTPAddr = "nope" }, "--http-addr"},
		{"bad raft addr", func(c *Config) { c.RaftAddr = "nope" }, "--raft-addr"},
		{"unreachable advertise", func(c *Config) { c.RaftAddr = "0.0.0.0:8300" }, "--advertise-raft"},
		{"join without key", func(c *Config) { c.Join = []string{"h:1"} }, "--cluster-key"},
		{"join with bootstrap", func(c *Config) { c.Join = []string{"h:1"}; c.ClusterKey = "k"; c.Bootstrap = true }, "--bootstrap"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"tiny body limit", func(c *Config) { c.MaxBodyBytes = 10 }, "--max-body-bytes"},
		{"election under heartbeat", func(c *Config) { c.ElectionTimeout = time.Millisecond * 100 }, "--raft-election-timeout"},
		{"append entries", func(c *Config) { c.MaxAppendEntries = 0 }, "--raft-max-append-entries"},
		{"peer source ip", func(c *Config) { c.PeerSourceIP = "127.0.0.300" }, "--peer-source-ip"},
		{"peer source ip set", func(c *Config) { c.PeerSourceIP = "127.0.0.21" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	c := Default()
	c.RaftAddr = "127.0.0.1:9300"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.AdvertiseRaft != "127.0.0.1:9300" || c.AdvertiseHTTP != c.HTTPAddr || c.NodeID != "127.0.0.1:9300" {
		t.Errorf("got advertise %q/%q and node id %q", c.AdvertiseRaft, c.AdvertiseHTTP, c.NodeID)
	}
	if !c.ShouldBootstrap() {
		t.Error("a node without --join should bootstrap")
	}
	c.Join = []string{"h:1"}
	if c.ShouldBootstrap() {
		t.Error("a joining node should not bootstrap")
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("raft-snapshot-threshold"); got != "PREFSD_RAFT_SNAPSHOT_THRESHOLD" {
		t.Errorf("got %q", got)
	}
}
