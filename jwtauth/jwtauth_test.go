package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/jwtauth"
)

// now is the injected clock of every test.
var now = time.Unix(1_800_000_000, 0)

func clock() time.Time { return now }

const secret = "0123456789abcdef0123456789abcdef-test-secret"

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwksOf(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		switch k := k.(type) {
		case *rsa.PublicKey:
			set.Keys = append(set.Keys, map[string]string{
				"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
			})
		case *ecdsa.PublicKey:
			raw, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			set.Keys = append(set.Keys, map[string]string{
				"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:]),
			})
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claims returns valid claims for user, expiring in an hour.
func claims(user string) jwt.MapClaims {
	return jwt.MapClaims{
		"username": user,
		"exp":      now.Add(time.Hour).Unix(),
		"iat":      now.Add(-time.Minute).Unix(),
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, cfg jwtauth.Config) *jwtauth.Verifier {
	t.Helper()
	cfg.Now = clock
	if cfg.Leeway == 0 {
		cfg.Leeway = jwtauth.DefaultLeeway
	}
	v, err := jwtauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	keys(t)
	hsFile := writeFile(t, "secret", []byte(secret+"\n"))
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	pemFile := writeFile(t, "keys.pem", append(append([]byte{}, rsaPEM...), pemOf(t, &ecKey.PublicKey)...))
	rsaOnly := writeFile(t, "rsa.pem", rsaPEM)
	jwksFile := writeFile(t, "jwks.json", jwksOf(t, map[string]any{"r1": &rsaKey.PublicKey, "e1": &ecKey.PublicKey}))

	hs := newVerifier(t, jwtauth.Config{HS256SecretFile: hsFile})
	hsIssAud := newVerifier(t, jwtauth.Config{HS256SecretFile: hsFile, Issuer: "https://idp.example", Audience: "prefsd"})
	pk := newVerifier(t, jwtauth.Config{PublicKeyFile: pemFile})
	rsaV := newVerifier(t, jwtauth.Config{PublicKeyFile: rsaOnly})
	jwks := newVerifier(t, jwtauth.Config{JWKSFile: jwksFile})
	strict, err := jwtauth.New(jwtauth.Config{HS256SecretFile: hsFile, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	custom := newVerifier(t, jwtauth.Config{HS256SecretFile: hsFile, UsernameClaim: "sub", UserIDClaim: "user_id", StaffClaim: "staff", Leeway: 5 * time.Second})

	none := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hsTok := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), "", c) }
	good := hsTok(claims("alice"))

	cases := []struct {
		name   string
		v      *jwtauth.Verifier
		token  string
		want   error // nil: accepted
		also   error // a second sentinel the error must match
		user   string
		staff  bool
		userID string
	}{
		{name: "hs256 valid", v: hs, token: good, user: "alice"},
		{name: "alg none", v: hs, token: none(claims("alice")), want: jwtauth.ErrInvalid},
		{name: "alg none on public keys", v: pk, token: none(claims("alice")), want: jwtauth.ErrInvalid},
		{name: "HS256 signed with the RSA public key", v: rsaV, token: sign(t, jwt.SigningMethodHS256, rsaPEM, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "HS256 signed with the RSA public key, JWKS", v: jwks, token: sign(t, jwt.SigningMethodHS256, rsaPEM, "r1", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "RS256 token on an HS256 verifier", v: hs, token: sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "HS512 with the right secret", v: hs, token: sign(t, jwt.SigningMethodHS512, []byte(secret), "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "RS512 with the right key", v: rsaV, token: sign(t, jwt.SigningMethodRS512, rsaKey, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "PS256 with the right key", v: rsaV, token: sign(t, jwt.SigningMethodPS256, rsaKey, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "ES256 on an RSA-only verifier", v: rsaV, token: sign(t, jwt.SigningMethodES256, ecKey, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "RS256 from another key", v: rsaV, token: sign(t, jwt.SigningMethodRS256, rsaKey2, "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "RS256 PEM valid", v: pk, token: sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("bob")), user: "bob"},
		{name: "ES256 PEM valid", v: pk, token: sign(t, jwt.SigningMethodES256, ecKey, "", claims("bob")), user: "bob"},
		{name: "wrong secret", v: hs, token: sign(t, jwt.SigningMethodHS256, []byte(secret+"x"), "", claims("alice")), want: jwtauth.ErrInvalid},
		{name: "tampered payload", v: hs, token: tamper(good), want: jwtauth.ErrInvalid},
		{name: "missing exp", v: hs, token: hsTok(with(claims("alice"), "exp", nil)), want: jwtauth.ErrInvalid},
		{name: "exp a string", v: hs, token: hsTok(with(claims("alice"), "exp", "tomorrow")), want: jwtauth.ErrInvalid},
		{name: "expired beyond leeway", v: hs, token: hsTok(with(claims("alice"), "exp", now.Add(-31*time.Second).Unix())), want: jwtauth.ErrExpired},
		{name: "expired within leeway", v: hs, token: hsTok(with(claims("alice"), "exp", now.Add(-29*time.Second).Unix())), user: "alice"},
		{name: "expired a second ago, no leeway", v: strict, token: hsTok(with(claims("alice"), "exp", now.Add(-time.Second).Unix())), want: jwtauth.ErrExpired},
		{name: "nbf a second ahead, no leeway", v: strict, token: hsTok(with(claims("alice"), "nbf", now.Add(time.Second).Unix())), want: jwtauth.ErrInvalid},
		{name: "valid, no leeway", v: strict, token: good, user: "alice"},
		{name: "expired beyond a 5s leeway", v: custom, token: hsTok(with(claims("x"), "sub", "carol", "exp", now.Add(-6*time.Second).Unix())), want: jwtauth.ErrExpired},
		{name: "nbf in the future", v: hs, token: hsTok(with(claims("alice"), "nbf", now.Add(time.Minute).Unix())), want: jwtauth.ErrInvalid},
		{name: "nbf within leeway", v: hs, token: hsTok(with(claims("alice"), "nbf", now.Add(20*time.Second).Unix())), user: "alice"},
		{name: "iat in the future", v: hs, token: hsTok(with(claims("alice"), "iat", now.Add(time.Hour).Unix())), want: jwtauth.ErrInvalid},
		{name: "iss and aud right", v: hsIssAud, token: hsTok(with(claims("alice"), "iss", "https://idp.example", "aud", []string{"other", "prefsd"})), user: "alice"},
		{name: "wrong iss", v: hsIssAud, token: hsTok(with(claims("alice"), "iss", "https://evil.example", "aud", "prefsd")), want: jwtauth.ErrInvalid},
		{name: "missing iss", v: hsIssAud, token: hsTok(with(claims("alice"), "aud", "prefsd")), want: jwtauth.ErrInvalid},
		{name: "wrong aud", v: hsIssAud, token: hsTok(with(claims("alice"), "iss", "https://idp.example", "aud", "other")), want: jwtauth.ErrInvalid},
		{name: "missing aud", v: hsIssAud, token: hsTok(with(claims("alice"), "iss", "https://idp.example")), want: jwtauth.ErrInvalid},
		{name: "jwks rsa by kid", v: jwks, token: sign(t, jwt.SigningMethodRS256, rsaKey, "r1", claims("dave")), user: "dave"},
		{name: "jwks ec by kid", v: jwks, token: sign(t, jwt.SigningMethodES256, ecKey, "e1", claims("erin")), user: "erin"},
		{name: "jwks unknown kid", v: jwks, token: sign(t, jwt.SigningMethodRS256, rsaKey, "r9", claims("dave")), want: jwtauth.ErrInvalid, also: jwtauth.ErrUnknownKey},
		{name: "jwks kid of the other family", v: jwks, token: sign(t, jwt.SigningMethodRS256, rsaKey, "e1", claims("dave")), want: jwtauth.ErrInvalid, also: jwtauth.ErrUnknownKey},
		{name: "jwks no kid among two keys", v: jwks, token: sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("dave")), want: jwtauth.ErrInvalid, also: jwtauth.ErrUnknownKey},
		{name: "jwks right kid, other key", v: jwks, token: sign(t, jwt.SigningMethodRS256, rsaKey2, "r1", claims("dave")), want: jwtauth.ErrInvalid},
		{name: "a very long token of dots", v: hs, token: strings.Repeat(".", 1<<20), want: jwtauth.ErrInvalid, also: jwtauth.ErrTooLong},
		{name: "a long valid-looking token", v: hs, token: hsTok(with(claims("alice"), "pad", strings.Repeat("x", 9000))), want: jwtauth.ErrInvalid, also: jwtauth.ErrTooLong},
		{name: "two dots only", v: hs, token: "..", want: jwtauth.ErrInvalid},
		{name: "an opaque token", v: hs, token: "0123456789abcdef0123456789abcdef01234567", want: jwtauth.ErrInvalid},
		{name: "garbage parts", v: hs, token: "a.b.c", want: jwtauth.ErrInvalid},
		{name: "no username", v: hs, token: hsTok(with(claims("alice"), "username", nil)), want: jwtauth.ErrInvalid, also: jwtauth.ErrNoUsername},
		{name: "username not a string", v: hs, token: hsTok(with(claims("alice"), "username", 42)), want: jwtauth.ErrInvalid, also: jwtauth.ErrNoUsername},
		{name: "username with a slash", v: hs, token: hsTok(with(claims("alice"), "username", "a/b")), want: jwtauth.ErrInvalid, also: jwtauth.ErrNoUsername},
		{name: "preferred_username fallback", v: hs, token: hsTok(with(claims("alice"), "username", nil, "preferred_username", "frank")), user: "frank"},
		{name: "is_staff", v: hs, token: hsTok(with(claims("alice"), "is_staff", true)), user: "alice", staff: true},
		{name: "administrator (Open edX)", v: hs, token: hsTok(with(claims("alice"), "administrator", true)), user: "alice", staff: true},
		{name: "is_staff not a bool", v: hs, token: hsTok(with(claims("alice"), "is_staff", "true")), user: "alice"},
		{name: "custom claims", v: custom, token: hsTok(with(claims("x"), "sub", "carol", "staff", true, "user_id", 17)), user: "carol", staff: true, userID: "17"},
		{name: "custom claims ignore the defaults", v: custom, token: hsTok(with(claims("x"), "sub", "carol", "is_staff", true)), user: "carol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.v.Verify(tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				if id.Username != tc.user || id.IsStaff != tc.staff || id.UserID != tc.userID {
					t.Fatalf("identity %+v, want user %q staff %v id %q", id, tc.user, tc.staff, tc.userID)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Fatalf("Verify: %v, want it to match %v too", err, tc.also)
			}
			if errors.Is(err, jwtauth.ErrExpired) == errors.Is(err, jwtauth.ErrInvalid) {
				t.Fatalf("Verify: %v matches both or neither of ErrExpired and ErrInvalid", err)
			}
			if id != (jwtauth.Identity{}) {
				t.Fatalf("a refused token gave identity %+v", id)
			}
		})
	}
}

// tamper changes the payload of a token, keeping its signature.
func tamper(tok string) string {
	p := strings.Split(tok, ".")
	body, _ := base64.RawURLEncoding.DecodeString(p[1])
	body = []byte(strings.Replace(string(body), "alice", "admin", 1))
	return p[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + p[2]
}

func TestNewRefusesBadConfig(t *testing.T) {
	keys(t)
	hsFile := writeFile(t, "secret", []byte(secret))
	pemFile := writeFile(t, "k.pem", pemOf(t, &rsaKey.PublicKey))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  jwtauth.Config
	}{
		{"no key source", jwtauth.Config{}},
		{"two key sources", jwtauth.Config{HS256SecretFile: hsFile, PublicKeyFile: pemFile}},
		{"missing file", jwtauth.Config{HS256SecretFile: filepath.Join(t.TempDir(), "nope")}},
		{"short secret", jwtauth.Config{HS256SecretFile: writeFile(t, "s", []byte("short\n"))}},
		{"leeway above 30s", jwtauth.Config{HS256SecretFile: hsFile, Leeway: time.Minute}},
		{"negative leeway", jwtauth.Config{HS256SecretFile: hsFile, Leeway: -time.Second}},
		{"empty PEM", jwtauth.Config{PublicKeyFile: writeFile(t, "e.pem", nil)}},
		{"private key PEM", jwtauth.Config{PublicKeyFile: writeFile(t, "p.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))}},
		{"1024-bit RSA", jwtauth.Config{PublicKeyFile: writeFile(t, "s.pem", pemOf(t, &small.PublicKey))}},
		{"P-384 key", jwtauth.Config{PublicKeyFile: writeFile(t, "p384.pem", pemOf(t, &p384.PublicKey))}},
		{"JWKS not JSON", jwtauth.Config{JWKSFile: writeFile(t, "j.json", []byte("{"))}},
		{"JWKS empty", jwtauth.Config{JWKSFile: writeFile(t, "j.json", []byte(`{"keys":[]}`))}},
		{"JWKS symmetric key", jwtauth.Config{JWKSFile: writeFile(t, "j.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))}},
		{"JWKS RSA key for HS256", jwtauth.Config{JWKSFile: writeFile(t, "j.json", []byte(`{"keys":[{"kty":"RSA","alg":"HS256","n":"AQAB","e":"AQAB"}]}`))}},
		{"JWKS EC point off the curve", jwtauth.Config{JWKSFile: writeFile(t, "j.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"`+b64(make([]byte, 32))+`","y":"`+b64(make([]byte, 32))+`"}]}`))}},
		{"JWKS duplicate kid", jwtauth.Config{JWKSFile: writeFile(t, "j.json", jwksDup(t))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jwtauth.New(tc.cfg)
			if !errors.Is(err, jwtauth.ErrConfig) || v != nil {
				t.Fatalf("New: %v, %v; want ErrConfig", v, err)
			}
		})
	}
}

func jwksDup(t testing.TB) []byte {
	one := jwksOf(t, map[string]any{"k": &rsaKey.PublicKey})
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(one, &set); err != nil {
		t.Fatal(err)
	}
	set.Keys = append(set.Keys, set.Keys[0])
	b, _ := json.Marshal(set)
	return b
}

func TestJWKSOneKeyWithoutKid(t *testing.T) {
	keys(t)
	v := newVerifier(t, jwtauth.Config{JWKSFile: writeFile(t, "j.json", jwksOf(t, map[string]any{"only": &ecKey.PublicKey}))})
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey, "", claims("gina"))); err != nil {
		t.Fatalf("a token without kid against a one-key JWKS: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, "", claims("gina"))); !errors.Is(err, jwtauth.ErrInvalid) {
		t.Fatalf("an RS256 token against an EC-only JWKS: %v", err)
	}
}

func TestReload(t *testing.T) {
	keys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(jwksOf(t, map[string]any{"r1": &rsaKey.PublicKey}))
	v := newVerifier(t, jwtauth.Config{JWKSFile: path})
	old := sign(t, jwt.SigningMethodRS256, rsaKey, "r1", claims("hal"))
	rotated := sign(t, jwt.SigningMethodRS256, rsaKey2, "r2", claims("hal"))

	check := func(tok string, ok bool) {
		t.Helper()
		_, err := v.Verify(tok)
		if ok != (err == nil) {
			t.Fatalf("Verify: %v, want ok=%v", err, ok)
		}
	}
	check(old, true)
	check(rotated, false)

	for _, bad := range [][]byte{[]byte("not json"), []byte(`{"keys":[]}`), nil} {
		write(bad)
		if err := v.Reload(); !errors.Is(err, jwtauth.ErrConfig) {
			t.Fatalf("Reload of %q: %v, want ErrConfig", bad, err)
		}
		check(old, true) // the old keys stay
		check(rotated, false)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	check(old, true)

	write(jwksOf(t, map[string]any{"r2": &rsaKey2.PublicKey}))
	if err := v.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	check(old, false)
	check(rotated, true)
}

// TestReloadConcurrent verifies while keys are reloaded, for the race
// detector.
func TestReloadConcurrent(t *testing.T) {
	hsFile := writeFile(t, "secret", []byte(secret))
	v := newVerifier(t, jwtauth.Config{HS256SecretFile: hsFile})
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), "", claims("ivy"))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if _, err := v.Verify(tok); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				if err := v.Reload(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestLooksLikeJWS(t *testing.T) {
	for s, want := range map[string]bool{
		"a.b.c": true, "..": true, "abc": false, "a.b": false, "a.b.c.d": false, "": false,
		"0123456789abcdef0123456789abcdef01234567": false,
	} {
		if got := jwtauth.LooksLikeJWS(s); got != want {
			t.Errorf("LooksLikeJWS(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzJWT checks that arbitrary token strings never panic and never
// verify against a verifier whose secret the fuzzer does not know.
func FuzzJWT(f *testing.F) {
	hsFile := writeFile(f, "secret", []byte(secret))
	v, err := jwtauth.New(jwtauth.Config{HS256SecretFile: hsFile, Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	valid := sign(f, jwt.SigningMethodHS256, []byte(secret), "", claims("alice"))
	for _, s := range []string{
		"", "..", "a.b.c", tamper(valid), valid[:len(valid)-2] + "AA", strings.Repeat(".", 9000),
		"eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6ImEiLCJleHAiOjk5OTk5OTk5OTl9.",
		"eyJhbGciOiJIUzI1NiJ9.e30.", "eyJhbGciOiJIUzI1NiIsImtpZCI6WzFdfQ.e30.AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == valid {
			return
		}
		id, err := v.Verify(s)
		if err == nil {
			t.Fatalf("Verify(%q) authenticated %+v", s, id)
		}
		if !errors.Is(err, jwtauth.ErrInvalid) && !errors.Is(err, jwtauth.ErrExpired) {
			t.Fatalf("Verify(%q): %v matches no sentinel", s, err)
		}
	})
}

func TestFromConfig(t *testing.T) {
	v, err := jwtauth.FromConfig(config.Default().JWT)
	if v != nil || err != nil {
		t.Fatalf("FromConfig without a key file: %v, %v; want nil, nil", v, err)
	}
	c := config.Default().JWT
	c.PublicKeyFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := jwtauth.FromConfig(c); !errors.Is(err, jwtauth.ErrConfig) || !strings.Contains(err.Error(), "--jwt-public-key-file") {
		t.Fatalf("FromConfig with a missing file: %v, want ErrConfig naming the flag", err)
	}
	c = config.Default().JWT
	c.HS256SecretFile = writeFile(t, "s", []byte(secret))
	c.UsernameClaim = "sub"
	v, err = jwtauth.FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"sub": "kim", "exp": time.Now().Add(time.Hour).Unix()})
	if id, err := v.Verify(tok); err != nil || id.Username != "kim" {
		t.Fatalf("Verify: %+v, %v", id, err)
	}
}
