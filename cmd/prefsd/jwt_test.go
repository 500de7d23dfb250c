package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesBadJWTConfig checks that prefsd stops before it listens
// when the JWT flags are unusable, with an error naming the flag.
func TestRunRefusesBadJWTConfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing secret file", []string{"--jwt-hs256-secret-file", missing}, nil, "--jwt-hs256-secret-file"},
		{"missing JWKS from the environment", nil, map[string]string{"PREFSD_JWT_JWKS_FILE": missing}, "--jwt-jwks-file"},
		{"two key files", []string{"--jwt-public-key-file", missing, "--jwt-jwks-file", missing}, nil, "--jwt-jwks-file"},
		{"leeway too long", []string{"--jwt-hs256-secret-file", missing, "--jwt-leeway", "1m"}, nil, "--jwt-leeway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data-dir", dir, "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}, tc.args...)
			err := run(context.Background(), args, func(k string) string { return tc.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
