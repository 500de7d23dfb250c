package config

import (
	"flag"
	"time"
)

// JWTConfig configures verification of JSON Web Tokens issued by an external
// identity provider. JWT verification is on when one key file is set; at
// most one of the three may be.
type JWTConfig struct {
	// HS256SecretFile holds a shared HS256 secret.
	HS256SecretFile string
	// PublicKeyFile holds RS256 or ES256 public keys in PEM.
	PublicKeyFile string
	// JWKSFile holds a JSON Web Key Set of RSA and EC keys, chosen by kid.
	JWKSFile string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// UsernameClaim, UserIDClaim and StaffClaim name the claims read.
	UsernameClaim string
	UserIDClaim   string
	StaffClaim    string
}

// Enabled reports whether a key file is configured.
func (j JWTConfig) Enabled() bool {
	return j.HS256SecretFile != "" || j.PublicKeyFile != "" || j.JWKSFile != ""
}

// defaultJWT is the JWT part of Default.
func defaultJWT() JWTConfig {
	return JWTConfig{
		Leeway:        30 * time.Second,
		UsernameClaim: "username",
		StaffClaim:    "is_staff",
	}
}

func (j *JWTConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&j.HS256SecretFile, "jwt-hs256-secret-file", j.HS256SecretFile, "file holding the HS256 secret of accepted JWTs (reloaded on SIGHUP)")
	fs.StringVar(&j.PublicKeyFile, "jwt-public-key-file", j.PublicKeyFile, "PEM file of RS256/ES256 public keys of accepted JWTs (reloaded on SIGHUP)")
	fs.StringVar(&j.JWKSFile, "jwt-jwks-file", j.JWKSFile, "JWKS file of RSA/EC keys of accepted JWTs, chosen by kid (reloaded on SIGHUP)")
	fs.StringVar(&j.Issuer, "jwt-issuer", j.Issuer, "required iss of accepted JWTs (default: not checked)")
	fs.StringVar(&j.Audience, "jwt-audience", j.Audience, "required aud of accepted JWTs (default: not checked)")
	fs.DurationVar(&j.Leeway, "jwt-leeway", j.Leeway, "clock skew allowed on a JWT's exp, nbf and iat (at most 30s)")
	fs.StringVar(&j.UsernameClaim, "jwt-username-claim", j.UsernameClaim, "JWT claim holding the username (preferred_username is read when it is absent)")
	fs.StringVar(&j.UserIDClaim, "jwt-user-id-claim", j.UserIDClaim, "JWT claim holding the user id (optional)")
	fs.StringVar(&j.StaffClaim, "jwt-staff-claim", j.StaffClaim, "boolean JWT claim making the user staff (administrator is also honoured)")
}

// validate checks the JWT flags. The key files themselves are loaded and
// checked when the node starts.
func (j *JWTConfig) validate(bad func(flagName, format string, args ...any)) {
	set := 0
	for _, f := range []string{j.HS256SecretFile, j.PublicKeyFile, j.JWKSFile} {
		if f != "" {
			set++
		}
	}
	if set > 1 {
		switch {
		case j.HS256SecretFile != "" && j.PublicKeyFile != "":
			bad("jwt-public-key-file", "cannot be combined with --jwt-hs256-secret-file")
		case j.HS256SecretFile != "":
			bad("jwt-jwks-file", "cannot be combined with --jwt-hs256-secret-file")
		default:
			bad("jwt-jwks-file", "cannot be combined with --jwt-public-key-file")
		}
	}
	if j.Leeway < 0 || j.Leeway > 30*time.Second {
		bad("jwt-leeway", "%s is not between 0s and 30s", j.Leeway)
	}
	if j.UsernameClaim == "" {
		bad("jwt-username-claim", "must not be empty")
	}
	if j.StaffClaim == "" {
		bad("jwt-staff-claim", "must not be empty")
	}
}
