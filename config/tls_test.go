package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestTLSFlagsGoTogether(t *testing.T) {
	cases := []struct {
		args []string
		want []string // flags the error must name; none means valid
	}{
		{nil, nil},
		{[]string{"--tls-cert-file=c.pem", "--tls-key-file=k.pem"}, nil},
		{[]string{"--tls-cert-file=c.pem"}, []string{"--tls-key-file"}},
		{[]string{"--tls-key-file=k.pem"}, []string{"--tls-cert-file"}},
		{[]string{"--peer-ca-file=ca.pem", "--peer-cert-file=c.pem", "--peer-key-file=k.pem"}, nil},
		{[]string{"--peer-ca-file=ca.pem"}, []string{"--peer-cert-file", "--peer-key-file"}},
		{[]string{"--peer-cert-file=c.pem", "--peer-key-file=k.pem"}, []string{"--peer-ca-file"}},
	}
	for _, c := range cases {
		cfg := Default()
		fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if err := cfg.Parse(fs, c.args, func(string) string { return "" }); err != nil {
			t.Fatalf("%v: parse: %v", c.args, err)
		}
		err := cfg.Validate()
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%v: %v", c.args, err)
			}
			continue
		}
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v does not name %s", c.args, err, w)
			}
		}
	}
}

func TestTLSFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{
		"PREFSD_PEER_CA_FILE":   "ca.pem",
		"PREFSD_PEER_CERT_FILE": "c.pem",
		"PREFSD_PEER_KEY_FILE":  "k.pem",
		"PREFSD_TLS_CERT_FILE":  "api.pem",
		"PREFSD_TLS_KEY_FILE":   "api-key.pem",
	}
	cfg := Default()
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	if err := cfg.Parse(fs, nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := TLSFiles{CertFile: "api.pem", KeyFile: "api-key.pem", PeerCAFile: "ca.pem", PeerCertFile: "c.pem", PeerKeyFile: "k.pem"}
	if cfg.TLS != want {
		t.Fatalf("got %+v, want %+v", cfg.TLS, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.APIEnabled() || !cfg.TLS.PeerEnabled() {
		t.Fatal("TLS not enabled")
	}
}
