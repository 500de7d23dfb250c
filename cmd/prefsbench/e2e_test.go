package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
)

// TestBenchAgainstNode runs a short benchmark against a real in-process
// node and checks only that every operation succeeded.
func TestBenchAgainstNode(t *testing.T) {
	nodes := testnode.StartCluster(t, 1, func(c *config.Config) {
		c.RateLimitUser, c.RateLimitAddress = 0, 0
	})
	node := testnode.WaitLeader(t, nodes)
	// The superuser is created once the node leads; wait until its token
	// is accepted.
	testnode.Eventually(t, 10*time.Second, func() error {
		req, err := http.NewRequest(http.MethodGet, node.URL+"/api/admin/users", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Token "+testnode.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("admin token not accepted yet: %d", resp.StatusCode)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const ops = 300
	for range 2 { // the second run reuses the users
		var stdout, stderr bytes.Buffer
		res, err := runResults(ctx, t, []string{"-addr", node.URL, "-prefix", "e2e", "-users", "3", "-keys", "6",
			"-concurrency", "4", "-ops", fmt.Sprint(ops), "-value-size", "50"}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
		}
		if res.Total.Count != ops || res.Total.Errors != 0 {
			t.Fatalf("%d succeeded, %d failed (%v), want %d and none\nstdout:\n%s\nstderr:\n%s",
				res.Total.Count, res.Total.Errors, res.ErrorsByStatus, ops, stdout.String(), stderr.String())
		}
		for _, k := range res.Kinds {
			if k.Count == 0 {
				t.Errorf("no successful %s operations", k.Kind)
			}
		}
		if !strings.Contains(stdout.String(), "total") {
			t.Errorf("no table on stdout:\n%s", stdout.String())
		}
	}
}

// runResults runs the command with the test node's admin token and
// returns the -json results.
func runResults(ctx context.Context, t *testing.T, args []string, stdout, stderr *bytes.Buffer) (*results, error) {
	t.Helper()
	path := t.TempDir() + "/results.json"
	env := func(k string) string {
		if k == "PREFSD_TOKEN" {
			return testnode.AdminToken
		}
		return ""
	}
	if err := run(ctx, append(args, "-json", path), env, stdout, stderr); err != nil {
		return nil, err
	}
	return readResults(t, path), nil
}
