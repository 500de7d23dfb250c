// Package jwtauth verifies JSON Web Tokens issued by an external identity
// provider, so that prefsd accepts the identity the application beside it
// already issues.
//
// A Verifier holds exactly one kind of key: an HS256 secret, RS256 or ES256
// public keys read from a PEM file, or a JWKS file of RSA and EC keys chosen
// by the token's "kid" header. Each key verifies only the one algorithm of
// its family (HS keys HS256, RSA keys RS256, EC keys ES256), so "none" and
// HS/RS confusion are refused. Every token must carry "exp"; "nbf" and "iat"
// are honoured; "iss" and "aud" are checked when configured. Reload re-reads
// the key file and keeps the old keys when the new ones fail to load.
package jwtauth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by Verify and the constructors. Match them with errors.Is.
// Every refusal of a token matches ErrInvalid or ErrExpired, never both;
// the more specific sentinels (ErrTooLong, ErrUnknownKey, ErrNoUsername)
// are joined to ErrInvalid.
var (
	// ErrExpired means the token was well signed but its "exp" has passed,
	// leeway included.
	ErrExpired = errors.New("jwtauth: token has expired")
	// ErrInvalid means the token is malformed, badly signed, signed with a
	// refused algorithm, not yet valid, lacks a required claim or carries
	// the wrong issuer or audience.
	ErrInvalid = errors.New("jwtauth: invalid token")
	// ErrTooLong means the token is longer than the configured cap.
	ErrTooLong = errors.New("jwtauth: token too long")
	// ErrUnknownKey means no loaded key matches the token's "kid" and
	// algorithm.
	ErrUnknownKey = errors.New("jwtauth: no key for the token")
	// ErrNoUsername means the token carries no usable username claim.
	ErrNoUsername = errors.New("jwtauth: token names no user")
	// ErrConfig means the verifier's configuration is unusable: no key
	// source or more than one, or a key file that cannot be loaded.
	ErrConfig = errors.New("jwtauth: bad configuration")
)

// Defaults used when a Config field is left zero.
const (
	// DefaultLeeway is the clock skew prefsd allows on exp, nbf and iat
	// unless told otherwise.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway accepted: a longer one would keep
	// expired tokens alive.
	MaxLeeway = 30 * time.Second
	// DefaultMaxTokenBytes caps the length of a token before it is parsed.
	DefaultMaxTokenBytes = 8 << 10
	// DefaultUsernameClaim names the claim holding the username; the
	// "preferred_username" claim is read when it is absent.
	DefaultUsernameClaim = "username"
	// FallbackUsernameClaim is read when the username claim is absent.
	FallbackUsernameClaim = "preferred_username"
	// DefaultStaffClaim names the boolean claim that makes the user staff.
	DefaultStaffClaim = "is_staff"
	// AdministratorClaim is the staff claim Open edX JWTs carry; it is
	// honoured besides the configured staff claim.
	AdministratorClaim = "administrator"
	// MaxUsernameLength is the longest username accepted, Django's limit.
	MaxUsernameLength = 150
)

// Config configures a Verifier. Exactly one of HS256SecretFile,
// PublicKeyFile and JWKSFile must be set.
type Config struct {
	// HS256SecretFile holds the shared HS256 secret; surrounding white
	// space is ignored. The secret must be at least 32 bytes long.
	HS256SecretFile string
	// PublicKeyFile holds one or more PEM blocks: PUBLIC KEY, RSA PUBLIC
	// KEY or CERTIFICATE, each an RSA (RS256) or a P-256 EC (ES256) key.
	PublicKeyFile string
	// JWKSFile holds a JSON Web Key Set of RSA and EC P-256 keys.
	JWKSFile string

	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be among the token's "aud".
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; zero allows
	// none. It must not exceed MaxLeeway. prefsd's default is
	// DefaultLeeway.
	Leeway time.Duration

	// UsernameClaim names the username claim; "" means DefaultUsernameClaim.
	UsernameClaim string
	// UserIDClaim, when set, names a claim copied to Identity.UserID.
	UserIDClaim string
	// StaffClaim names the boolean staff claim; "" means DefaultStaffClaim.
	StaffClaim string

	// MaxTokenBytes caps a token's length; zero means DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Username is the value of the username claim.
	Username string
	// UserID is the value of the user id claim, when one is configured and
	// present, as a string.
	UserID string
	// IsStaff is true when the staff claim or "administrator" is true.
	IsStaff bool
}

// Verifier verifies tokens. It is safe for concurrent use, including
// concurrently with Reload.
type Verifier struct {
	cfg    Config
	keys   atomic.Pointer[keySet]
	reload sync.Mutex
}

// New returns a Verifier for cfg, with its keys loaded.
func New(cfg Config) (*Verifier, error) {
	n := 0
	for _, f := range []string{cfg.HS256SecretFile, cfg.PublicKeyFile, cfg.JWKSFile} {
		if f != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: exactly one of an HS256 secret file, a public key file and a JWKS file must be set (%d are)", ErrConfig, n)
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("%w: the leeway must be between 0 and %s", ErrConfig, MaxLeeway)
	}
	if cfg.MaxTokenBytes <= 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = DefaultUsernameClaim
	}
	if cfg.StaffClaim == "" {
		cfg.StaffClaim = DefaultStaffClaim
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg}
	if err := v.Reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// Reload re-reads the key file. The new keys replace the old ones in one
// step; when they fail to load, the old keys stay in force and the error
// says why.
func (v *Verifier) Reload() error {
	v.reload.Lock()
	defer v.reload.Unlock()
	ks, err := v.load()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	v.keys.Store(ks)
	return nil
}

func (v *Verifier) load() (*keySet, error) {
	switch {
	case v.cfg.HS256SecretFile != "":
		return loadHS256(v.cfg.HS256SecretFile)
	case v.cfg.PublicKeyFile != "":
		return loadPEM(v.cfg.PublicKeyFile)
	default:
		return loadJWKS(v.cfg.JWKSFile)
	}
}

// LooksLikeJWS reports whether s has the shape of a compact JWS, three
// dot-separated parts, as opposed to an opaque API token.
func LooksLikeJWS(s string) bool {
	return strings.Count(s, ".") == 2
}

// Verify checks token and returns the identity it carries. An expired
// token gives an error matching ErrExpired; every other refusal matches
// ErrInvalid.
func (v *Verifier) Verify(token string) (Identity, error) {
	if len(token) > v.cfg.MaxTokenBytes {
		return Identity{}, errors.Join(ErrInvalid, ErrTooLong)
	}
	if !LooksLikeJWS(token) {
		return Identity{}, fmt.Errorf("%w: not a compact JWS", ErrInvalid)
	}
	ks := v.keys.Load()
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(ks.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithStrictDecoding(),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, ks.keyFor)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Identity{}, fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, ErrUnknownKey):
		return Identity{}, errors.Join(ErrInvalid, ErrUnknownKey)
	default:
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v.identity(claims)
}

// identity reads the configured claims of a verified token.
func (v *Verifier) identity(claims jwt.MapClaims) (Identity, error) {
	var id Identity
	name, ok := claims[v.cfg.UsernameClaim]
	if !ok {
		name = claims[FallbackUsernameClaim]
	}
	s, _ := name.(string)
	if s == "" || len(s) > MaxUsernameLength || strings.ContainsAny(s, "/\x00") || strings.TrimSpace(s) != s {
		return Identity{}, errors.Join(ErrInvalid, ErrNoUsername)
	}
	id.Username = s
	if v.cfg.UserIDClaim != "" {
		switch uid := claims[v.cfg.UserIDClaim].(type) {
		case string:
			id.UserID = uid
		case float64:
			if uid == math.Trunc(uid) && math.Abs(uid) < 1<<53 {
				id.UserID = strconv.FormatInt(int64(uid), 10)
			}
		}
	}
	staff, _ := claims[v.cfg.StaffClaim].(bool)
	admin, _ := claims[AdministratorClaim].(bool)
	id.IsStaff = staff || admin
	return id, nil
}
