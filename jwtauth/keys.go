package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// Limits on key material.
const (
	// minHS256Secret is the shortest HS256 secret accepted: RFC 7518
	// section 3.2 asks for a key at least as long as the hash.
	minHS256Secret = 32
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
	// maxKeyFile caps the size of a key file.
	maxKeyFile = 1 << 20
)

// keySet is one generation of loaded keys. It is never changed after it is
// built; Reload swaps in a new one.
type keySet struct {
	// methods are the algorithms the keys allow, for WithValidMethods.
	methods []string
	// secret is the HS256 secret, when the set is one.
	secret []byte
	// byKid holds the keys that carry a key id (from a JWKS).
	byKid map[string]any
	// rsa and ec are the keys without a key id, by family.
	rsa []*rsa.PublicKey
	ec  []*ecdsa.PublicKey
}

// keyFor is the jwt.Keyfunc: it returns only keys of the family of the
// token's algorithm, so that an RSA key never verifies an HS256 signature
// and the reverse.
func (ks *keySet) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if ks.secret != nil {
		if alg != jwt.SigningMethodHS256.Alg() {
			return nil, ErrUnknownKey
		}
		return ks.secret, nil
	}
	if kidv, ok := t.Header["kid"]; ok {
		kid, ok := kidv.(string)
		if !ok {
			return nil, ErrUnknownKey
		}
		k, ok := ks.byKid[kid]
		if !ok || !fits(k, alg) {
			return nil, ErrUnknownKey
		}
		return k, nil
	}
	var set jwt.VerificationKeySet
	switch alg {
	case jwt.SigningMethodRS256.Alg():
		for _, k := range ks.rsa {
			set.Keys = append(set.Keys, k)
		}
	case jwt.SigningMethodES256.Alg():
		for _, k := range ks.ec {
			set.Keys = append(set.Keys, k)
		}
	}
	if len(set.Keys) == 0 && len(ks.byKid) == 1 {
		// A JWKS of one key serves tokens that name no kid.
		for _, k := range ks.byKid {
			if fits(k, alg) {
				return k, nil
			}
		}
	}
	if len(set.Keys) == 0 {
		return nil, ErrUnknownKey
	}
	return set, nil
}

// fits reports whether key k verifies algorithm alg: RSA keys RS256 only,
// EC keys ES256 only.
func fits(k any, alg string) bool {
	switch k.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg()
	}
	return false
}

// add puts a public key in the set, checking its family and strength.
func (ks *keySet) add(kid string, k any) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("an RSA key of %d bits is shorter than %d", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return errors.New("an EC key is not on P-256, the only curve ES256 uses")
		}
	default:
		return fmt.Errorf("a %T key is neither RSA nor EC", k)
	}
	if kid != "" {
		if _, dup := ks.byKid[kid]; dup {
			return fmt.Errorf("the key id %q appears twice", kid)
		}
		ks.byKid[kid] = k
	} else if r, ok := k.(*rsa.PublicKey); ok {
		ks.rsa = append(ks.rsa, r)
	} else {
		ks.ec = append(ks.ec, k.(*ecdsa.PublicKey))
	}
	return nil
}

// finish sets the allowed methods from the families present.
func (ks *keySet) finish() (*keySet, error) {
	var hasRSA, hasEC bool
	hasRSA, hasEC = len(ks.rsa) > 0, len(ks.ec) > 0
	for _, k := range ks.byKid {
		switch k.(type) {
		case *rsa.PublicKey:
			hasRSA = true
		case *ecdsa.PublicKey:
			hasEC = true
		}
	}
	if hasRSA {
		ks.methods = append(ks.methods, jwt.SigningMethodRS256.Alg())
	}
	if hasEC {
		ks.methods = append(ks.methods, jwt.SigningMethodES256.Alg())
	}
	if len(ks.methods) == 0 {
		return nil, errors.New("no usable key")
	}
	return ks, nil
}

func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFile)
	}
	return os.ReadFile(path)
}

func loadHS256(path string) (*keySet, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < minHS256Secret {
		return nil, fmt.Errorf("%s: the HS256 secret is shorter than %d bytes", path, minHS256Secret)
	}
	return &keySet{methods: []string{jwt.SigningMethodHS256.Alg()}, secret: b}, nil
}

func loadPEM(path string) (*keySet, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	ks := &keySet{byKid: map[string]any{}}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		var k any
		switch blk.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			err = fmt.Errorf("a %q PEM block is not a public key or a certificate", blk.Type)
		}
		if err == nil {
			err = ks.add("", k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return nil, fmt.Errorf("%s: text that is not PEM follows the keys", path)
	}
	ks, err = ks.finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// jwk is one key of a JWKS, with the members this package reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func loadJWKS(path string) (*keySet, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ks := &keySet{byKid: map[string]any{}}
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue // an encryption key
		}
		k, err := j.publicKey()
		if err == nil {
			err = ks.add(j.Kid, k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", path, i, err)
		}
	}
	ks, err = ks.finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// publicKey decodes an RSA or EC P-256 JWK, refusing an "alg" that does not
// match its family.
func (j jwk) publicKey() (any, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return nil, fmt.Errorf("an RSA key for %q; only RS256 is accepted", j.Alg)
		}
		n, err := dec(j.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := dec(j.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("e: out of range")
		}
		E := new(big.Int).SetBytes(e).Int64()
		if E < 3 || E%2 == 0 {
			return nil, errors.New("e: not an odd exponent of at least 3")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(E)}, nil
	case "EC":
		if j.Alg != "" && j.Alg != "ES256" {
			return nil, fmt.Errorf("an EC key for %q; only ES256 is accepted", j.Alg)
		}
		if j.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q; only P-256 is accepted", j.Crv)
		}
		x, err := dec(j.X)
		if err != nil || len(x) != 32 {
			return nil, errors.New("x: not 32 base64url bytes")
		}
		y, err := dec(j.Y)
		if err != nil || len(y) != 32 {
			return nil, errors.New("y: not 32 base64url bytes")
		}
		pt := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
	}
	return nil, fmt.Errorf("key type %q is neither RSA nor EC", j.Kty)
}
