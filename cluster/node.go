// Package cluster wires prefsd's state machine into hashicorp/raft: the TCP
// transport, raft-boltdb/v2 on disk, file snapshots, bootstrap and join,
// forwarding of writes to the leader, consistency-level reads through a
// read-index protocol, the leadership watcher, and raft metrics.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
)

// Options are what a node needs besides its configuration.
type Options struct {
	// Logger receives the node's logs. Raft's own logs go to RaftLogOutput.
	Logger *slog.Logger
	// RaftLogOutput receives hashicorp/raft's logs; nil means stderr.
	RaftLogOutput io.Writer
	// Metrics records the node's metrics; nil records nothing.
	Metrics *Metrics
	// AdminTokenDigest, if set, is the token digest the built-in superuser
	// is created with, by whichever node leads first with one set.
	AdminTokenDigest []byte
	// Clock returns the time the leader stamps into entries; nil means
	// time.Now.
	Clock func() time.Time
	// DefaultCatalog is the settings catalogue a cluster starts with: the
	// first leader installs it if no catalogue was ever set.
	DefaultCatalog []fsm.SettingDef
	// TLS is the node's certificate material, shared with the HTTP server
	// and reloaded on SIGHUP; nil means Open loads it from the
	// configuration (see LoadTLS).
	TLS *TLS
}

// Node is one member of a prefsd cluster.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	metrics *Metrics
	clock   func() time.Time
	admin   []byte
	catalog []fsm.SettingDef

	fsm       *fsm.FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	boltStore *raftboltdb.BoltStore
	lazy      *lazyLogStore // only with --unsafe-no-fsync
	client    *http.Client
	tls       *TLS // nil without TLS

	// readyTerm is the term in which this node, as leader, saw its barrier
	// return; it serves consistent reads only while the term is current.
	readyTerm atomic.Uint64
	// reads shares the leader's quorum confirmations among concurrent
	// reads; linearizableForwards and leaderForwards share a follower's
	// read-index calls to the leader, one batcher per level.
	reads                *readBatcher
	linearizableForwards *readBatcher
	leaderForwards       *readBatcher
	// forwarder batches the commands a follower forwards to the leader.
	forwarder *applyForwarder
	// committer hands the leader's commands to raft a group at a time.
	committer *committer

	stop chan struct{}
	// life ends when the node closes: work that outlives the call that
	// started it, such as a term question left to finish, runs under it.
	life    context.Context
	endLife context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Open starts a node: it opens the stores in cfg.DataDir, starts raft, and
// bootstraps a new cluster if the configuration asks for it and the node has
// no state yet. It does not join; call Join for that.
func Open(cfg config.Config, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	dialer := peerDialer(cfg.PeerSourceIP, 2*time.Second)
	life, endLife := context.WithCancel(context.Background())
	n := &Node{
		cfg:     cfg,
		log:     opts.Logger,
		metrics: opts.Metrics,
		clock:   opts.Clock,
		admin:   opts.AdminTokenDigest,
		catalog: opts.DefaultCatalog,
		stop:    make(chan struct{}),
		life:    life,
		endLife: endLife,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         dialer.DialContext,
				MaxIdleConns:        256,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     90 * time.Second,
			},
		},
	}
	n.fsm = fsm.New(n.metrics.observeCommand)
	if opts.TLS == nil {
		// Fail closed: TLS flags given but no material passed in still
		// turn TLS on.
		t, err := LoadTLS(cfg)
		if err != nil {
			return nil, err
		}
		opts.TLS = t
	}
	n.tls = opts.TLS
	if n.tls.PeerEnabled() {
		n.client.Transport.(*http.Transport).DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return n.tls.dialTLS(ctx, network, addr, dialer)
		}
	}

	out := opts.RaftLogOutput
	if out == nil {
		out = os.Stderr
	}
	hlog := hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      hclog.LevelFromString(raftLogLevel(cfg.LogLevel)),
		Output:     out,
		JSONFormat: cfg.LogFormat == "json",
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.ShutdownOnRemove = true
	rc.NoLegacyTelemetry = true
	notify := make(chan bool, 16) // raft drops notifications a full channel cannot take
	rc.NotifyCh = notify

	var err error
	n.boltStore, err = raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout:        time.Second,
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
		NoSync: cfg.UnsafeNoFsync, // false: every acknowledged write is on disk
	})
	if err != nil {
		return nil, fmt.Errorf("--data-dir: open raft log %s: %w", filepath.Join(cfg.DataDir, "raft.db"), err)
	}
	var logStore raft.LogStore = n.boltStore
	if cfg.UnsafeNoFsync {
		n.lazy = newLazyLogStore(n.boltStore)
		logStore = n.lazy
		n.log.Warn("--unsafe-no-fsync: raft log writes are acknowledged before they are on disk; a crash loses acknowledged writes")
	}
	logs, err := raft.NewLogCache(512, logStore)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	advertise, err := advertisedAddr(cfg.AdvertiseRaft)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("--advertise-raft %s: %w", cfg.AdvertiseRaft, err)
	}
	var stream raft.StreamLayer
	if n.tls.PeerEnabled() {
		stream, err = newTLSStreamLayer(cfg.RaftAddr, advertise, n.tls, dialer)
	} else {
		stream, err = newTCPStreamLayer(cfg.RaftAddr, advertise, dialer)
	}
	if err == nil {
		n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: stream, MaxPool: 8, Timeout: 10 * time.Second, Logger: hlog,
		})
	}
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("--raft-addr %s: %w", cfg.RaftAddr, err)
	}

	existing, err := raft.HasExistingState(logs, n.boltStore, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.boltStore, snaps, n.transport)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	if !existing && cfg.ShouldBootstrap() {
		f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       rc.LocalID,
			Address:  n.transport.LocalAddr(),
		}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Close()
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new cluster", "node_id", cfg.NodeID)
	}
	if existing {
		n.log.Info("restarting from existing state", "node_id", cfg.NodeID, "data_dir", cfg.DataDir)
	}

	n.reads = newReadBatcher(n.stop, n.confirm)
	n.linearizableForwards = newReadBatcher(n.stop, func() (uint64, error) { return n.forwardReadIndex(true) })
	n.leaderForwards = newReadBatcher(n.stop, func() (uint64, error) { return n.forwardReadIndex(false) })
	n.metrics.watchRaft(n.raft, n.fsm)
	n.forwarder = newApplyForwarder(n)
	n.committer = newCommitter(n.raft.Apply, cfg.MaxAppendEntries)
	n.wg.Add(5 + forwardWorkers)
	go n.watchLeadership(notify)
	go n.reads.run(&n.wg)
	go n.linearizableForwards.run(&n.wg)
	go n.leaderForwards.run(&n.wg)
	go n.committer.run(n.stop, &n.wg)
	for range forwardWorkers {
		go n.forwarder.run(n.stop, &n.wg)
	}
	return n, nil
}

// raftLogLevel maps prefsd's log level to raft's, one step quieter: raft is
// chatty at info.
func raftLogLevel(level string) string {
	switch level {
	case "debug":
		return "debug"
	case "info":
		return "warn"
	}
	return level
}

// HasExistingState reports whether the node started from state of its own.
func (n *Node) HasExistingState() bool {
	return n.raft.LastIndex() > 0
}

// RaftAddr returns the address other nodes reach raft at.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// FSM returns the node's state machine.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Raft returns the node's raft instance, for status and tests.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Close stops the node: raft first, then the stores. It is safe to call
// more than once.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		close(n.stop)
		n.endLife()
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		if cerr := n.closeStores(); err == nil {
			err = cerr
		}
		n.client.CloseIdleConnections()
	})
	return err
}

func (n *Node) closeStores() error {
	var errs []error
	if n.transport != nil {
		errs = append(errs, n.transport.Close())
	}
	if n.lazy != nil {
		errs = append(errs, n.lazy.Close())
	}
	if n.boltStore != nil {
		errs = append(errs, n.boltStore.Close())
	}
	return errors.Join(errs...)
}

// leaderAPI returns the leader's id and HTTP address, if known.
func (n *Node) leaderAPI() (id, addr string, ok bool) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" {
		return "", "", false
	}
	m, ok := n.fsm.State().Member(string(lid))
	if !ok || m.APIAddr == "" {
		return string(lid), "", false
	}
	return string(lid), m.APIAddr, true
}

// LeaderInfo returns the leader's id and HTTP address as far as this node
// knows; either may be empty.
func (n *Node) LeaderInfo() (id, addr string) {
	id, addr, _ = n.leaderAPI()
	return id, addr
}

// knownLeader returns the leader's address, or self=true if this node
// leads; ok is false while no leader with a known address exists.
func (n *Node) knownLeader() (addr string, self, ok bool) {
	if n.IsLeader() {
		return "", true, true
	}
	_, addr, ok = n.leaderAPI()
	return addr, false, ok
}

// waitLeader waits up to the leader wait for a leader whose address is known.
// It returns self=true, and no address, when this node is the leader.
func (n *Node) waitLeader(ctx context.Context) (addr string, self bool, err error) {
	if addr, self, ok := n.knownLeader(); ok {
		return addr, self, nil // every request comes here: no timers unless waiting
	}
	deadline := time.NewTimer(n.cfg.LeaderWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if addr, self, ok := n.knownLeader(); ok {
			return addr, self, nil
		}
		select {
		case <-ctx.Done():
			return "", false, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-n.stop:
			return "", false, ErrShutdown
		case <-deadline.C:
			return "", false, ErrNoLeader
		case <-tick.C:
		}
	}
}
