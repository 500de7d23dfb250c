package config

import "flag"

// TLSFiles name the certificate files a node uses. All are optional, in two
// groups: the HTTP API's certificate and key (both or neither), and the
// cluster's CA, certificate and key for mutual TLS between nodes (all three
// or none). Every node of a cluster must use peer TLS, or none must.
type TLSFiles struct {
	// CertFile and KeyFile make the HTTP API serve HTTPS.
	CertFile string
	KeyFile  string
	// PeerCAFile, PeerCertFile and PeerKeyFile turn on mutual TLS for raft
	// and for node-to-node HTTP calls: a node accepts only peers whose
	// certificate chains to the CA, and presents its own certificate.
	PeerCAFile   string
	PeerCertFile string
	PeerKeyFile  string
}

// APIEnabled reports whether the HTTP API serves HTTPS with its own
// certificate.
func (t TLSFiles) APIEnabled() bool { return t.CertFile != "" }

// PeerEnabled reports whether nodes talk to one another over mutual TLS.
func (t TLSFiles) PeerEnabled() bool { return t.PeerCAFile != "" }

func (t *TLSFiles) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.CertFile, "tls-cert-file", t.CertFile, "PEM certificate (chain) for the HTTP API; serves HTTPS (needs --tls-key-file; reloaded on SIGHUP)")
	fs.StringVar(&t.KeyFile, "tls-key-file", t.KeyFile, "PEM private key for --tls-cert-file")
	fs.StringVar(&t.PeerCAFile, "peer-ca-file", t.PeerCAFile, "PEM cluster CA; turns on mutual TLS for raft and node-to-node calls (needs --peer-cert-file and --peer-key-file; reloaded on SIGHUP)")
	fs.StringVar(&t.PeerCertFile, "peer-cert-file", t.PeerCertFile, "PEM certificate this node presents to other nodes, signed by --peer-ca-file")
	fs.StringVar(&t.PeerKeyFile, "peer-key-file", t.PeerKeyFile, "PEM private key for --peer-cert-file")
}

// validate checks that the files come in complete groups. The files
// themselves are loaded and checked when the node starts.
func (t *TLSFiles) validate(bad func(flagName, format string, args ...any)) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("tls-key-file", "is required with --tls-cert-file")
	case t.CertFile == "" && t.KeyFile != "":
		bad("tls-cert-file", "is required with --tls-key-file")
	}
	if t.PeerCAFile != "" || t.PeerCertFile != "" || t.PeerKeyFile != "" {
		for _, f := range []struct{ name, val string }{
			{"peer-ca-file", t.PeerCAFile}, {"peer-cert-file", t.PeerCertFile}, {"peer-key-file", t.PeerKeyFile},
		} {
			if f.val == "" {
				bad(f.name, "is required: --peer-ca-file, --peer-cert-file and --peer-key-file go together")
			}
		}
	}
}
