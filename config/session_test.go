package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestSessionTTL(t *testing.T) {
	if got := Default().SessionTTL; got != 14*24*time.Hour {
		t.Fatalf("default session TTL %v, want 14 days (Django's SESSION_COOKIE_AGE)", got)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"flag", []string{"--session-ttl", "2h"}, nil, 2 * time.Hour, false},
		{"environment", nil, map[string]string{EnvName("session-ttl"): "36h"}, 36 * time.Hour, false},
		{"too short", []string{"--session-ttl", "30s"}, nil, 0, true},
		{"negative", []string{"--session-ttl", "-1h"}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := c.Parse(flag.NewFlagSet("prefsd", flag.ContinueOnError), tt.args, func(k string) string { return tt.env[k] })
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "session-ttl") {
					t.Fatalf("err = %v, want a session-ttl error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SessionTTL != tt.want {
				t.Fatalf("SessionTTL = %v, want %v", c.SessionTTL, tt.want)
			}
		})
	}
}
