// Package config holds prefsd's node configuration: its defaults, its
// command-line flags, the PREFSD_* environment variables that stand in for
// any flag not given, and validation whose errors name the flag at fault.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

// EnvPrefix is prepended to a flag's upper-cased, underscored name to form
// the environment variable read when the flag is not given.
const EnvPrefix = "PREFSD_"

// Config is one node's configuration.
type Config struct {
	// NodeID names the node in the raft configuration. It defaults to the
	// advertised raft address.
	NodeID string
	// HTTPAddr is where the HTTP API listens.
	HTTPAddr string
	// RaftAddr is where raft's TCP transport listens.
	RaftAddr string
	// AdvertiseHTTP and AdvertiseRaft are the addresses other nodes use to
	// reach this one; they default to the listen addresses.
	AdvertiseHTTP string
	AdvertiseRaft string
	// DataDir holds the raft log, stable store and snapshots.
	DataDir string
	// Bootstrap forms a new single-node cluster on first start. A node
	// started with neither Bootstrap nor Join bootstraps too.
	Bootstrap bool
	// Join lists HTTP addresses of existing members to join through.
	Join []string
	// ClusterKey authenticates node-to-node calls. Joining needs it.
	ClusterKey string
	// AdminToken is given to the built-in superuser "admin" by the node
	// that leads; when empty on a node that bootstraps, one is generated.
	AdminToken string

	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string

	// MaxBodyBytes caps request bodies; larger ones get 413.
	MaxBodyBytes int64
	// RateLimitUser and RateLimitAddress are the requests a second allowed
	// per authenticated user and per client address (bursts of twice
	// that); 0 turns a limit off.
	RateLimitUser    float64
	RateLimitAddress float64
	// SessionTTL is how long a login session lasts (Django's default:
	// two weeks).
	SessionTTL time.Duration
	// ApplyTimeout bounds a write from the moment it reaches this node.
	ApplyTimeout time.Duration
	// LeaderWait is how long a request waits for a leader during an
	// election before it is answered 503.
	LeaderWait time.Duration

	// Raft tuning.
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	MaxAppendEntries  int

	// PeerSourceIP, if set, is the local address every connection to
	// another node (raft and node-to-node HTTP) is made from, for hosts
	// with several addresses.
	PeerSourceIP string

	// UnsafeNoFsync makes raft log writes return before they are stored,
	// as a disk that ignores fsync would: a crash then loses acknowledged
	// writes. It exists so that the fault-injection tests can prove they
	// detect such loss; never set it in production.
	UnsafeNoFsync bool

	// TLS: see config/tls.go.
	TLS TLSFiles

	// JWT: see config/jwt.go.
	JWT JWTConfig
}

// Default returns the configuration of `prefsd` run with no flags: one node
// on loopback with data in ./data, bootstrapped on first start.
func Default() Config {
	return Config{
		HTTPAddr:      "127.0.0.1:8080",
		RaftAddr:      "127.0.0.1:8300",
		DataDir:       "data",
		LogLevel:      "info",
		LogFormat:     "text",
		MaxBodyBytes:  1 << 20,
		RateLimitUser: 200,
		SessionTTL:    14 * 24 * time.Hour,
		ApplyTimeout:  10 * time.Second,
		LeaderWait:    5 * time.Second,
		// Followers call an election after 1 to 2 heartbeat timeouts
		// without hearing from the leader; the leader sends heartbeats
		// every tenth of it. 500ms keeps failover under a second on a
		// LAN while tolerating a 50ms pause between heartbeats tenfold.
		HeartbeatTimeout:  500 * time.Millisecond,
		ElectionTimeout:   500 * time.Millisecond,
		SnapshotThreshold: 8192,
		SnapshotInterval:  120 * time.Second,
		TrailingLogs:      10240,
		MaxAppendEntries:  256,
		JWT:               defaultJWT(),
	}
}

// listFlag is a comma-separated list.
type listFlag struct{ list *[]string }

func (l listFlag) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}

func (l listFlag) Set(s string) error {
	*l.list = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l.list = append(*l.list, part)
		}
	}
	return nil
}

// RegisterFlags defines a flag for every field of c on fs, with c's current
// values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "unique node id (default: the advertised raft address)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP API listen address")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "raft listen address")
	fs.StringVar(&c.AdvertiseHTTP, "advertise-http", c.AdvertiseHTTP, "HTTP address other nodes use (default: --http-addr)")
	fs.StringVar(&c.AdvertiseRaft, "advertise-raft", c.AdvertiseRaft, "raft address other nodes use (default: --raft-addr)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the raft log, stable store and snapshots")
	fs.BoolVar(&c.Bootstrap, "bootstrap", c.Bootstrap, "form a new cluster on first start (implied without --join)")
	fs.Var(listFlag{&c.Join}, "join", "comma-separated HTTP addresses of members to join through")
	fs.StringVar(&c.ClusterKey, "cluster-key", c.ClusterKey, "shared secret for node-to-node calls (required with --join)")
	fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "API token of the built-in superuser 'admin' (default: generated at the first bootstrap, printed, and kept in <data-dir>/admin-token)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted; larger ones get 413")
	fs.Float64Var(&c.RateLimitUser, "rate-limit-user", c.RateLimitUser, "requests a second per user (bursts of twice that), else 429 with Retry-After; 0 for none")
	fs.Float64Var(&c.RateLimitAddress, "rate-limit-address", c.RateLimitAddress, "requests a second per client address; 0 for none (behind a load balancer every client shares its address)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a login session lasts")
	fs.DurationVar(&c.ApplyTimeout, "apply-timeout", c.ApplyTimeout, "how long a write or consistent read may take")
	fs.DurationVar(&c.LeaderWait, "leader-wait", c.LeaderWait, "how long a request waits for a leader during an election")
	fs.DurationVar(&c.HeartbeatTimeout, "raft-heartbeat-timeout", c.HeartbeatTimeout, "raft heartbeat timeout: a follower calls an election after 1 to 2 of them without hearing from the leader")
	fs.DurationVar(&c.ElectionTimeout, "raft-election-timeout", c.ElectionTimeout, "raft election timeout: how long a candidate waits for votes before trying again")
	fs.Uint64Var(&c.SnapshotThreshold, "raft-snapshot-threshold", c.SnapshotThreshold, "log entries between snapshots")
	fs.DurationVar(&c.SnapshotInterval, "raft-snapshot-interval", c.SnapshotInterval, "how often to check whether to snapshot")
	fs.Uint64Var(&c.TrailingLogs, "raft-trailing-logs", c.TrailingLogs, "log entries kept after a snapshot")
	fs.IntVar(&c.MaxAppendEntries, "raft-max-append-entries", c.MaxAppendEntries, "largest batch of entries per append (group commit)")
	fs.StringVar(&c.PeerSourceIP, "peer-source-ip", c.PeerSourceIP, "local IP to make connections to other nodes from (default: chosen by the system)")
	fs.BoolVar(&c.UnsafeNoFsync, "unsafe-no-fsync", c.UnsafeNoFsync, "TESTING ONLY: acknowledge raft log writes before they are on disk, so a crash loses acknowledged writes")
	c.TLS.registerFlags(fs)
	c.JWT.registerFlags(fs)
}

// EnvName returns the environment variable that stands in for a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into c: flags first, then, for every flag not given,
// the PREFSD_* environment variable read through getenv.
func (c *Config) Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate checks c and fills in the defaults that depend on other fields.
// Its errors name the flag at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
	// checkAddr checks a listen address and the address advertised for it,
	// which defaults to the listen address.
	checkAddr := func(listenFlag, listen string, advFlag string, adv *string) {
		if _, _, err := net.SplitHostPort(listen); err != nil {
			bad(listenFlag, "%v", err)
			return
		}
		if *adv == "" {
			*adv = listen
		}
		if host, _, err := net.SplitHostPort(*adv); err != nil {
			bad(advFlag, "%v", err)
		} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			bad(advFlag, "%q is not an address other nodes can reach; set --%s", *adv, advFlag)
		}
	}
	checkAddr("http-addr", c.HTTPAddr, "advertise-http", &c.AdvertiseHTTP)
	checkAddr("raft-addr", c.RaftAddr, "advertise-raft", &c.AdvertiseRaft)
	if c.NodeID == "" {
		c.NodeID = c.AdvertiseRaft
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if c.Bootstrap && len(c.Join) > 0 {
		bad("bootstrap", "cannot be combined with --join")
	}
	if len(c.Join) > 0 && c.ClusterKey == "" {
		bad("cluster-key", "is required with --join (set it, or %s, to the same value on every node)", EnvName("cluster-key"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "%q is not text or json", c.LogFormat)
	}
	if c.MaxBodyBytes < 1024 {
		bad("max-body-bytes", "must be at least 1024")
	}
	if c.RateLimitUser < 0 {
		bad("rate-limit-user", "must not be negative")
	}
	if c.RateLimitAddress < 0 {
		bad("rate-limit-address", "must not be negative")
	}
	if c.SessionTTL < time.Minute {
		bad("session-ttl", "must be at least 1m")
	}
	if c.ApplyTimeout <= 0 {
		bad("apply-timeout", "must be positive")
	}
	if c.LeaderWait < 0 {
		bad("leader-wait", "must not be negative")
	}
	if c.HeartbeatTimeout < 5*time.Millisecond {
		bad("raft-heartbeat-timeout", "must be at least 5ms")
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("raft-election-timeout", "must be at least --raft-heartbeat-timeout")
	}
	if c.SnapshotThreshold == 0 {
		bad("raft-snapshot-threshold", "must be positive")
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		bad("raft-max-append-entries", "must be between 1 and 1024")
	}
	if c.PeerSourceIP != "" && net.ParseIP(c.PeerSourceIP) == nil {
		bad("peer-source-ip", "%q is not an IP address", c.PeerSourceIP)
	}
	c.TLS.validate(bad)
	c.JWT.validate(bad)
	return errors.Join(errs...)
}

// ShouldBootstrap reports whether the node forms a new cluster when it has
// no state of its own.
func (c *Config) ShouldBootstrap() bool {
	return c.Bootstrap || len(c.Join) == 0
}
