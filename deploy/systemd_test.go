package deploy

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testbin"
)

const (
	unitFile = "systemd/prefsd.service"
	envFile  = "systemd/prefsd.env"
)

// unit is a systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

// get returns the last value of key in section, as systemd uses it.
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// parseUnit reads an INI-style unit file as systemd does: sections in
// brackets, Key=Value lines, # and ; comments, and lines continued with a
// trailing backslash.
func parseUnit(r io.Reader) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(r)
	lineNo := 0
	var pending string
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", lineNo, line)
			}
			section = line[1 : len(line)-1]
			if u[section] != nil {
				return nil, fmt.Errorf("line %d: section [%s] repeated", lineNo, section)
			}
			u[section] = map[string][]string{}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is not Key=Value inside a section", lineNo, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	if pending != "" {
		return nil, errors.New("file ends in a continued line")
	}
	return u, sc.Err()
}

// envAssignment is a VAR=value line of an environment file; commented
// ones are alternatives the file suggests.
var envAssignment = regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$`)

// parseEnvFile returns an EnvironmentFile's assignments, and separately
// those suggested in comments.
func parseEnvFile(r io.Reader) (set, suggested map[string]string, err error) {
	set, suggested = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		m := envAssignment.FindStringSubmatch(line)
		switch {
		case m == nil && strings.HasPrefix(line, "#"):
		case m == nil:
			return nil, nil, fmt.Errorf("%q is neither VAR=value nor a comment", line)
		case m[1] != "":
			suggested[m[2]] = m[3]
		default:
			if _, dup := set[m[2]]; dup {
				return nil, nil, fmt.Errorf("%s set twice", m[2])
			}
			set[m[2]] = m[3]
		}
	}
	return set, suggested, sc.Err()
}

// flagEnvNames returns the PREFSD_* variable of every prefsd flag.
func flagEnvNames() map[string]bool {
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	cfg := config.Default()
	cfg.RegisterFlags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[config.EnvName(f.Name)] = true })
	return names
}

// parseConfig runs prefsd's own flag and environment parsing and
// validation on args and env.
func parseConfig(args []string, env map[string]string) (config.Config, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := cfg.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := parseUnit(f)
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	return u
}

// TestSystemdUnit checks the unit's hardening and that prefsd's own
// configuration parser accepts its command line with the example
// environment file, for a first node and for a joining one.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t)
	for _, want := range []struct{ section, key, value string }{
		{"Service", "Type", "exec"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "StateDirectory", "prefsd"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "Restart", "on-failure"},
		{"Service", "KillSignal", "SIGTERM"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if _, ok := u[want.section][want.key]; !ok {
			t.Errorf("[%s] %s is not set", want.section, want.key)
		} else if got := u.get(want.section, want.key); got != want.value {
			t.Errorf("[%s] %s=%s, want %s", want.section, want.key, got, want.value)
		}
	}
	if n, err := strconv.Atoi(u.get("Service", "LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%q, want at least 4096", u.get("Service", "LimitNOFILE"))
	}
	envPath := u.get("Service", "EnvironmentFile")
	if !strings.HasPrefix(envPath, "/etc/prefsd/") {
		t.Errorf("EnvironmentFile=%q, want a file under /etc/prefsd", envPath)
	}

	argv := strings.Fields(u.get("Service", "ExecStart"))
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) || filepath.Base(argv[0]) != "prefsd" {
		t.Fatalf("ExecStart=%q, want an absolute path to prefsd", u.get("Service", "ExecStart"))
	}
	f, err := os.Open(envFile)
	if err != nil {
		t.Fatal(err)
	}
	env, suggested, err := parseEnvFile(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", envFile, err)
	}
	known := flagEnvNames()
	for _, vars := range []map[string]string{env, suggested} {
		for k := range vars {
			if !known[k] {
				t.Errorf("%s names %s, which is no prefsd flag's variable", envFile, k)
			}
		}
	}
	if suggested["PREFSD_JOIN"] == "" {
		t.Fatalf("%s suggests no PREFSD_JOIN for the nodes that join", envFile)
	}

	joining := map[string]string{}
	for k, v := range env {
		if k != "PREFSD_BOOTSTRAP" {
			joining[k] = v
		}
	}
	joining["PREFSD_JOIN"] = suggested["PREFSD_JOIN"]
	for _, tt := range []struct {
		name          string
		env           map[string]string
		bootstrap     bool
		wantJoinAddrs int
	}{
		{"first node", env, true, 0},
		{"joining node", joining, false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(argv[1:], tt.env)
			if err != nil {
				t.Fatalf("prefsd refuses ExecStart %q with %s: %v", argv[1:], envFile, err)
			}
			if want := "/var/lib/" + u.get("Service", "StateDirectory"); cfg.DataDir != want {
				t.Errorf("--data-dir %q, want the StateDirectory %s", cfg.DataDir, want)
			}
			if cfg.ShouldBootstrap() != tt.bootstrap || len(cfg.Join) != tt.wantJoinAddrs {
				t.Errorf("bootstrap %v join %q, want bootstrap %v and %d join addresses", cfg.ShouldBootstrap(), cfg.Join, tt.bootstrap, tt.wantJoinAddrs)
			}
			if cfg.ClusterKey == "" || cfg.AdminToken == "" {
				t.Error("the environment file sets no cluster key or admin token")
			}
		})
	}
}

// TestSystemdAnalyze has systemd check the unit, with the binary and
// environment file paths pointed at a built prefsd and the example file,
// and rate its exposure. It skips where systemd-analyze is missing.
func TestSystemdAnalyze(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin := testbin.Prefsd(t)
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	envAbs, err := filepath.Abs(envFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/usr/local/bin/prefsd", bin, "/etc/prefsd/prefsd.env", envAbs).Replace(string(data))
	if text == string(data) {
		t.Fatal("the unit names neither /usr/local/bin/prefsd nor /etc/prefsd/prefsd.env")
	}
	path := filepath.Join(t.TempDir(), "prefsd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on unknown keys and bad values, which it only prints.
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline is not available here: %v", err)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for prefsd\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	if level > 2.0 {
		t.Fatalf("exposure level %.1f, want at most 2.0 (OK); systemd's findings:\n%s", level, out)
	}
	t.Logf("systemd-analyze security: exposure %.1f", level)
}
