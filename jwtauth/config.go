package jwtauth

import (
	"fmt"

	"github.com/prefsd/prefsd/config"
)

// FromConfig returns the Verifier the node's JWT flags describe, or nil and
// no error when no key file is configured. Its errors name the flag at
// fault.
func FromConfig(c config.JWTConfig) (*Verifier, error) {
	if !c.Enabled() {
		return nil, nil
	}
	v, err := New(Config{
		HS256SecretFile: c.HS256SecretFile,
		PublicKeyFile:   c.PublicKeyFile,
		JWKSFile:        c.JWKSFile,
		Issuer:          c.Issuer,
		Audience:        c.Audience,
		Leeway:          c.Leeway,
		UsernameClaim:   c.UsernameClaim,
		UserIDClaim:     c.UserIDClaim,
		StaffClaim:      c.StaffClaim,
	})
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", KeyFlag(c), err)
	}
	return v, nil
}

// KeyFlag names the flag of the key file c uses, for messages.
func KeyFlag(c config.JWTConfig) string {
	switch {
	case c.HS256SecretFile != "":
		return "jwt-hs256-secret-file"
	case c.PublicKeyFile != "":
		return "jwt-public-key-file"
	}
	return "jwt-jwks-file"
}
