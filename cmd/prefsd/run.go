package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/jwtauth"
)

// run starts a node and serves until ctx ends, then shuts down in order:
// stop taking requests, hand leadership over, stop raft, close the stores.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := newFlagSet("prefsd", stderr, func() { printHelp(stderr) })
	if err := cfg.Parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{err: err}
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{err: err}
	}
	log := newLogger(stderr, cfg)
	jwtVerifier, err := jwtauth.FromConfig(cfg.JWT)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if err := cluster.BridgeRaftMetrics(reg); err != nil {
		return err
	}
	if !cluster.RaftMetricsBridged {
		log.Warn("built without the hashicorpmetrics tag: raft's own metrics are not exported")
	}

	adminToken, err := adminToken(cfg, log, stdout)
	if err != nil {
		return err
	}
	var adminDigest []byte
	if adminToken != "" {
		adminDigest = api.TokenDigest(adminToken)
	}

	defaultCatalog, err := catalog.Default()
	if err != nil {
		return err
	}

	tlsFiles, err := cluster.LoadTLS(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	if tlsFiles.APIEnabled() {
		ln = tls.NewListener(ln, tlsFiles.ServerConfig())
	}
	node, err := cluster.Open(cfg, cluster.Options{
		Logger:           log,
		RaftLogOutput:    stderr,
		Metrics:          cluster.NewMetrics(reg),
		AdminTokenDigest: adminDigest,
		DefaultCatalog:   defaultCatalog,
		TLS:              tlsFiles,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: api.New(api.Options{
			Cluster:          node,
			Logger:           log,
			Registry:         reg,
			Gatherer:         reg,
			MaxBodyBytes:     cfg.MaxBodyBytes,
			RateLimitUser:    cfg.RateLimitUser,
			RateLimitAddress: cfg.RateLimitAddress,
			SessionTTL:       cfg.SessionTTL,
			JWT:              jwtVerifier,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// reloaders re-read files (keys, certificates) on SIGHUP; each names
	// what it reloads.
	var reloaders []reloader
	// With peer TLS on, node-to-node calls must present a cluster
	// certificate; certificates reload on SIGHUP.
	srv.Handler = tlsFiles.Handler(srv.Handler)
	if tlsFiles != nil {
		reloaders = append(reloaders, reloader{name: "TLS certificates", reload: tlsFiles.Reload})
	}
	if jwtVerifier != nil {
		reloaders = append(reloaders, reloader{name: "JWT keys (--" + jwtauth.KeyFlag(cfg.JWT) + ")", reload: jwtVerifier.Reload})
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cancel(fmt.Errorf("http server: %w", err))
		}
	}()
	if len(cfg.Join) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.JoinCluster(ctx, cfg.Join); err != nil && ctx.Err() == nil {
				cancel(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		reloadOnHangup(ctx, log, reloaders)
	}()
	log.Info("prefsd started", "version", version, "node_id", cfg.NodeID, "http", cfg.HTTPAddr, "raft", cfg.RaftAddr, "data_dir", cfg.DataDir)

	<-ctx.Done()
	runErr := context.Cause(ctx)
	if errors.Is(runErr, context.Canceled) {
		runErr = nil // a signal: a clean stop
	}
	log.Info("shutting down")
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer shutCancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if node.IsLeader() && len(mustStatus(node).Members) > 1 {
		if err := node.Raft().LeadershipTransfer().Error(); err != nil {
			log.Info("no leadership transfer", "err", err)
		}
	}
	if err := node.Close(); err != nil {
		log.Warn("raft shutdown", "err", err)
	}
	wg.Wait()
	return runErr
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// adminTokenFile holds the superuser token generated at first bootstrap,
// so that a start that fails after printing it does not lose it.
const adminTokenFile = "admin-token"

// adminToken returns the token the built-in superuser is created with when
// this node bootstraps the cluster: the configured one; else one generated
// earlier and kept in the data directory; else, on a node about to form a
// new cluster, a fresh one, which it saves and prints.
func adminToken(cfg config.Config, log *slog.Logger, stdout io.Writer) (string, error) {
	path := filepath.Join(cfg.DataDir, adminTokenFile)
	if cfg.AdminToken != "" {
		log.Info("the superuser authenticates with the configured admin token", "user", cluster.AdminUsername)
		return cfg.AdminToken, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		log.Info("the superuser's generated token is kept in the data directory", "user", cluster.AdminUsername, "file", path)
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	if !cfg.ShouldBootstrap() || fileExists(filepath.Join(cfg.DataDir, "raft.db")) {
		return "", nil
	}
	t, err := api.NewToken()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	if err := writeFileSync(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	fmt.Fprintf(stdout, "prefsd: generated a token for the superuser %q (also kept in %s):\n\n"+
		"    export PREFSD_TOKEN=%s\n    curl -H \"Authorization: Token $PREFSD_TOKEN\" %s://%s/api/admin/users\n\n",
		cluster.AdminUsername, path, t, apiScheme(cfg), cfg.AdvertiseHTTP)
	return t, nil
}

// apiScheme is the scheme the HTTP API serves: https with any TLS flag.
func apiScheme(cfg config.Config) string {
	if cfg.TLS.APIEnabled() || cfg.TLS.PeerEnabled() {
		return "https"
	}
	return "http"
}

// writeFileSync writes a file and flushes it to disk.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func mustStatus(n *cluster.Node) cluster.Status {
	st, _ := n.Status()
	return st
}

// reloader re-reads one kind of file on SIGHUP.
type reloader struct {
	name   string
	reload func() error
}

// reloadOnHangup runs every reloader each time the process gets SIGHUP,
// until ctx ends. A failed reload keeps what was loaded before.
func reloadOnHangup(ctx context.Context, log *slog.Logger, reloaders []reloader) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			for _, r := range reloaders {
				if err := r.reload(); err != nil {
					log.Warn("reload failed; keeping the previous one", "what", r.name, "err", err)
					continue
				}
				log.Info("reloaded", "what", r.name)
			}
		}
	}
}
