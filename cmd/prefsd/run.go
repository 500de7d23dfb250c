package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
)

// run starts a node and serves until ctx ends, then shuts down in order:
// stop taking requests, hand leadership over, stop raft, close the stores.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := cfg.Parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg)

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

	fresh := !fileExists(filepath.Join(cfg.DataDir, "raft.db"))
	adminToken := cfg.AdminToken
	if adminToken == "" && fresh && cfg.ShouldBootstrap() {
		t, err := api.NewToken()
		if err != nil {
			return err
		}
		adminToken = t
		fmt.Fprintf(stdout, "prefsd: generated a token for the superuser %q (shown once):\n\n    export PREFSD_TOKEN=%s\n    curl -H \"Authorization: Token $PREFSD_TOKEN\" http://%s/api/admin/users\n\n",
			cluster.AdminUsername, t, cfg.AdvertiseHTTP)
	}
	var adminDigest []byte
	switch {
	case cfg.AdminToken != "":
		adminDigest = api.TokenDigest(adminToken)
		log.Info("the superuser authenticates with the configured admin token", "user", cluster.AdminUsername,
			"header", "Authorization: Token $PREFSD_ADMIN_TOKEN")
	case adminToken != "":
		adminDigest = api.TokenDigest(adminToken)
	case !fresh:
		log.Info("existing data: the superuser's token is the one printed at first start, or set PREFSD_ADMIN_TOKEN",
			"user", cluster.AdminUsername)
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	node, err := cluster.Open(cfg, cluster.Options{
		Logger:           log,
		RaftLogOutput:    stderr,
		Metrics:          cluster.NewMetrics(reg),
		AdminTokenDigest: adminDigest,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: api.New(api.Options{
			Cluster:      node,
			Logger:       log,
			Registry:     reg,
			Gatherer:     reg,
			MaxBodyBytes: cfg.MaxBodyBytes,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
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

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func mustStatus(n *cluster.Node) cluster.Status {
	st, _ := n.Status()
	return st
}
