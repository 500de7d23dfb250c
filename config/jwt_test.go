package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestJWTFlagsAndEnv(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := map[string]string{
		"PREFSD_JWT_JWKS_FILE":      "/etc/prefsd/jwks.json",
		"PREFSD_JWT_AUDIENCE":       "prefsd",
		"PREFSD_JWT_LEEWAY":         "10s",
		"PREFSD_JWT_USERNAME_CLAIM": "from-env",
	}
	args := []string{"--jwt-issuer", "https://idp.example", "--jwt-username-claim", "sub", "--jwt-staff-claim", "administrator", "--jwt-user-id-claim", "user_id"}
	if err := c.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := JWTConfig{
		JWKSFile: "/etc/prefsd/jwks.json", Issuer: "https://idp.example", Audience: "prefsd",
		Leeway: 10 * time.Second, UsernameClaim: "sub", UserIDClaim: "user_id", StaffClaim: "administrator",
	}
	if c.JWT != want {
		t.Fatalf("JWT config %+v, want %+v", c.JWT, want)
	}
	if !c.JWT.Enabled() {
		t.Fatal("a JWKS file does not enable JWT verification")
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := Default().JWT; d.Enabled() || d.Leeway != 30*time.Second || d.UsernameClaim != "username" || d.StaffClaim != "is_staff" {
		t.Fatalf("default JWT config %+v", d)
	}
}

func TestJWTValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*JWTConfig)
		want   string // "" for valid
	}{
		{"off", func(j *JWTConfig) {}, ""},
		{"hs256", func(j *JWTConfig) { j.HS256SecretFile = "s" }, ""},
		{"secret and public key", func(j *JWTConfig) { j.HS256SecretFile, j.PublicKeyFile = "s", "p" }, "--jwt-public-key-file"},
		{"secret and jwks", func(j *JWTConfig) { j.HS256SecretFile, j.JWKSFile = "s", "j" }, "--jwt-jwks-file"},
		{"public key and jwks", func(j *JWTConfig) { j.PublicKeyFile, j.JWKSFile = "p", "j" }, "--jwt-jwks-file"},
		{"leeway too long", func(j *JWTConfig) { j.Leeway = 31 * time.Second }, "--jwt-leeway"},
		{"negative leeway", func(j *JWTConfig) { j.Leeway = -time.Second }, "--jwt-leeway"},
		{"empty username claim", func(j *JWTConfig) { j.UsernameClaim = "" }, "--jwt-username-claim"},
		{"empty staff claim", func(j *JWTConfig) { j.StaffClaim = "" }, "--jwt-staff-claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(&c.JWT)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
