package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/prefsd/prefsd/internal/testbin"
)

const (
	dockerfile   = "Dockerfile"
	composeFile  = "compose.yaml"
	haproxyCfg   = "haproxy.cfg"
	haproxyBuild = "haproxy/build-image.sh"
	// haproxyCfgInImage is where the haproxy image reads its configuration.
	haproxyCfgInImage = "/usr/local/etc/haproxy/haproxy.cfg"
)

// instruction is one Dockerfile instruction with its arguments.
type instruction struct {
	Cmd  string // upper case
	Args string
}

// parseDockerfile reads instructions, joining continued lines and
// dropping comments.
func parseDockerfile(data []byte) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		if !regexp.MustCompile(`^[A-Za-z]+$`).MatchString(cmd) {
			return nil, fmt.Errorf("%q is not an instruction", cmd)
		}
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
	}
	if cur.Len() != 0 {
		return nil, fmt.Errorf("the file ends in a continued line")
	}
	return out, sc.Err()
}

// image is what the Dockerfile sets up.
type image struct {
	From        []string
	User        string
	Env         map[string]string
	Expose      []int
	Volumes     []string
	Entrypoint  []string
	Healthcheck []string
	Copies      [][]string // each COPY's words, flags included
}

func readImage(t *testing.T) image {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(data)
	if err != nil {
		t.Fatalf("%s: %v", dockerfile, err)
	}
	img := image{Env: map[string]string{}}
	execForm := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s: %q is not in exec form: %v", dockerfile, s, err)
		}
		return v
	}
	for _, in := range ins {
		switch in.Cmd {
		case "FROM":
			img.From = append(img.From, in.Args)
		case "USER":
			img.User = in.Args
		case "ENV":
			for _, kv := range strings.Fields(in.Args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("%s: ENV %q: use KEY=value", dockerfile, in.Args)
				}
				img.Env[k] = v
			}
		case "EXPOSE":
			for _, p := range strings.Fields(in.Args) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("%s: EXPOSE %s: %v", dockerfile, p, err)
				}
				img.Expose = append(img.Expose, n)
			}
		case "VOLUME":
			img.Volumes = append(img.Volumes, execForm(in.Args)...)
		case "ENTRYPOINT":
			img.Entrypoint = execForm(in.Args)
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(in.Args, "CMD ")
			if !ok {
				t.Fatalf("%s: HEALTHCHECK without CMD", dockerfile)
			}
			img.Healthcheck = execForm(cmd)
		case "COPY":
			img.Copies = append(img.Copies, strings.Fields(in.Args))
		}
	}
	return img
}

// TestDockerfile checks the image without building it: nothing but
// scratch underneath, a numeric unprivileged user that owns the data
// volume, the ports prefsd listens on exposed, the files it copies
// present, and a health check that runs prefsd's own subcommand.
func TestDockerfile(t *testing.T) {
	img := readImage(t)
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.From, []string{"scratch"}) {
		t.Errorf("FROM %v: want only scratch; there is no registry to pull from", img.From)
	}
	uid, gid, ok := strings.Cut(img.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || !ok {
		t.Errorf("USER %q: want a numeric, non-root uid:gid (scratch has no user database to look names up in)", img.User)
	}
	for _, c := range img.Copies {
		srcs := c[:len(c)-1]
		chown := ""
		for _, w := range srcs {
			if v, ok := strings.CutPrefix(w, "--chown="); ok {
				chown = v
				continue
			}
			if w == "bin/prefsd" {
				continue // made by make build
			}
			if _, err := os.Stat(filepath.Join(root, w)); err != nil {
				t.Errorf("COPY %s: %v (the build context is the repository root)", w, err)
			}
		}
		if dest := strings.TrimSuffix(c[len(c)-1], "/"); slices.Contains(img.Volumes, dest) && chown != img.User {
			t.Errorf("COPY to the volume %s: --chown=%s, want the USER %s so that a new volume is writable", dest, chown, img.User)
		}
	}
	passwd, err := os.ReadFile("image/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^[a-z]+:x:` + uid + `:` + gid + `:`).Match(passwd) {
		t.Errorf("image/etc/passwd has no user %s:%s", uid, gid)
	}

	httpPort := portOf(t, "http-addr", img.Env["PREFSD_HTTP_ADDR"])
	raftPort := portOf(t, "raft-addr", img.Env["PREFSD_RAFT_ADDR"])
	if !slices.Equal(slices.Sorted(slices.Values(img.Expose)), slices.Sorted(slices.Values([]int{httpPort, raftPort}))) {
		t.Errorf("EXPOSE %v, want the HTTP and raft ports %d and %d", img.Expose, httpPort, raftPort)
	}
	if !slices.Equal(img.Volumes, []string{img.Env["PREFSD_DATA_DIR"]}) {
		t.Errorf("VOLUME %v, want PREFSD_DATA_DIR %s", img.Volumes, img.Env["PREFSD_DATA_DIR"])
	}
	if len(img.Entrypoint) != 1 || !slices.ContainsFunc(img.Copies, func(c []string) bool { return c[len(c)-1] == img.Entrypoint[0] }) {
		t.Errorf("ENTRYPOINT %v is not the binary the Dockerfile copies", img.Entrypoint)
	}
	if len(img.Healthcheck) < 2 || img.Healthcheck[0] != img.Entrypoint[0] || img.Healthcheck[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK CMD %v, want %s healthcheck", img.Healthcheck, img.Entrypoint[0])
	}
	for k := range img.Env {
		if !flagEnvNames()[k] {
			t.Errorf("ENV %s is no prefsd flag's variable", k)
		}
	}
}

// composeFileT is the part of the compose file the tests read.
type composeFileT struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Networks    map[string]struct {
			IPv4Address string `yaml:"ipv4_address"`
		} `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

// composeVar is ${NAME}, ${NAME:-default} or ${NAME:?message}.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}`)

// interpolate expands compose variables from env as compose does, and
// reports a required variable that is missing.
func interpolate(text string, env map[string]string) (string, error) {
	var missing []string
	out := composeVar.ReplaceAllStringFunc(text, func(ref string) string {
		m := composeVar.FindStringSubmatch(ref)
		v, ok := env[m[1]]
		switch {
		case ok && v != "":
			return v
		case m[2] == "-":
			return m[3]
		case m[2] == "?":
			missing = append(missing, m[1]+": "+m[3])
		}
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("required variables missing: %s", strings.Join(missing, "; "))
	}
	return out, nil
}

func readCompose(t *testing.T, env map[string]string) composeFileT {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	text, err := interpolate(string(data), env)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	var cf composeFileT
	if err := yaml.Unmarshal([]byte(text), &cf); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return cf
}

// haproxyServers returns the default address of each server line of
// haproxy.cfg ("${N1_ADDR-n1:8080}" gives n1:8080), and the default bind.
func haproxyServers(t *testing.T) (servers map[string]string, bind string) {
	t.Helper()
	data, err := os.ReadFile(haproxyCfg)
	if err != nil {
		t.Fatal(err)
	}
	servers = map[string]string{}
	def := regexp.MustCompile(`"\$\{[A-Z0-9_]+-([^}]+)\}"`)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "server":
			m := def.FindStringSubmatch(f[2])
			if m == nil {
				t.Fatalf("%s: server %s has no default address: %q", haproxyCfg, f[1], f[2])
			}
			servers[f[1]] = m[1]
		case len(f) >= 2 && f[0] == "bind":
			if m := def.FindStringSubmatch(f[1]); m != nil {
				bind = m[1]
			}
		}
	}
	return servers, bind
}

// TestCompose checks the compose file without Docker: three nodes whose
// command lines prefsd accepts (n1 forming the cluster, the others
// joining it by service name), each on its own volume and fixed address
// in the network's subnet, and haproxy with deploy/haproxy.cfg, whose
// default backends are those nodes. With docker-compose installed, it
// also has compose validate the file.
func TestCompose(t *testing.T) {
	env := map[string]string{"PREFSD_CLUSTER_KEY": clusterKey, "PREFSD_ADMIN_TOKEN": adminToken}
	if _, err := interpolate(mustRead(t, composeFile), nil); err == nil || !strings.Contains(err.Error(), "PREFSD_CLUSTER_KEY") {
		t.Errorf("compose starts without PREFSD_CLUSTER_KEY (%v); nodes need the same secret", err)
	}
	cf := readCompose(t, env)
	img := readImage(t)
	httpPort := portOf(t, "http-addr", img.Env["PREFSD_HTTP_ADDR"])

	if len(cf.Networks) != 1 {
		t.Fatalf("%d networks, want one private network", len(cf.Networks))
	}
	var netName string
	var subnet *net.IPNet
	for name, n := range cf.Networks {
		netName = name
		if len(n.IPAM.Config) != 1 {
			t.Fatalf("network %s: want one subnet, as the nodes have fixed addresses", name)
		}
		var err error
		if _, subnet, err = net.ParseCIDR(n.IPAM.Config[0].Subnet); err != nil {
			t.Fatalf("network %s: %v", name, err)
		}
	}

	servers, bind := haproxyServers(t)
	nodes := []string{"n1", "n2", "n3"}
	ips := map[string]string{}
	for _, name := range nodes {
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		t.Run(name, func(t *testing.T) {
			nodeEnv := map[string]string{}
			for k, v := range img.Env {
				nodeEnv[k] = v
			}
			for k, v := range s.Environment {
				nodeEnv[k] = v
			}
			cfg, err := parseConfig(s.Command, nodeEnv)
			if err != nil {
				t.Fatalf("prefsd refuses %q: %v", s.Command, err)
			}
			if cfg.NodeID != name || cfg.AdvertiseHTTP != fmt.Sprintf("%s:%d", name, httpPort) {
				t.Errorf("node id %s, advertised HTTP %s: want %s and %s:%d", cfg.NodeID, cfg.AdvertiseHTTP, name, name, httpPort)
			}
			if host, _, _ := net.SplitHostPort(cfg.AdvertiseRaft); host != name {
				t.Errorf("advertised raft address %s: want the service name %s", cfg.AdvertiseRaft, name)
			}
			if bootstrap := name == "n1"; cfg.ShouldBootstrap() != bootstrap {
				t.Errorf("bootstraps: %v, want %v", cfg.ShouldBootstrap(), bootstrap)
			}
			for _, j := range cfg.Join {
				if h, p, _ := net.SplitHostPort(j); !slices.Contains(nodes, h) || h == name || p != strconv.Itoa(httpPort) {
					t.Errorf("joins through %s: want another node's service name and HTTP port", j)
				}
			}
			if !slices.Contains(s.Volumes, fmt.Sprintf("%s-data:%s", name, img.Env["PREFSD_DATA_DIR"])) {
				t.Errorf("volumes %v: want the named volume %s-data on %s", s.Volumes, name, img.Env["PREFSD_DATA_DIR"])
			}
			if _, ok := cf.Volumes[name+"-data"]; !ok {
				t.Errorf("volume %s-data is not declared", name)
			}
			ip := net.ParseIP(s.Networks[netName].IPv4Address)
			if ip == nil || !subnet.Contains(ip) {
				t.Errorf("address %q is not in the subnet %s: raft keeps addresses, so each node needs a fixed one", s.Networks[netName].IPv4Address, subnet)
			}
			ips[name] = ip.String()
			if servers[name] != cfg.AdvertiseHTTP {
				t.Errorf("haproxy server %s defaults to %q, want %s", name, servers[name], cfg.AdvertiseHTTP)
			}
		})
	}
	if len(servers) != len(nodes) {
		t.Errorf("haproxy has servers %v, want one per node", servers)
	}

	lb, ok := cf.Services["haproxy"]
	if !ok {
		t.Fatal("no haproxy service")
	}
	if !slices.Contains(lb.Volumes, "./"+haproxyCfg+":"+haproxyCfgInImage+":ro") {
		t.Errorf("haproxy volumes %v: want ./%s mounted read-only at %s", lb.Volumes, haproxyCfg, haproxyCfgInImage)
	}
	if script := mustRead(t, haproxyBuild); !strings.Contains(script, `"-f", "`+haproxyCfgInImage+`"`) {
		t.Errorf("%s does not build an image that reads %s", haproxyBuild, haproxyCfgInImage)
	}
	_, bindPort, _ := net.SplitHostPort(bind)
	if len(lb.Ports) != 1 || !strings.HasSuffix(lb.Ports[0], ":"+bindPort) {
		t.Errorf("haproxy ports %v: want its bind port %s published", lb.Ports, bindPort)
	}
	if ip := net.ParseIP(lb.Networks[netName].IPv4Address); ip == nil || !subnet.Contains(ip) || slices.Contains(slices.Collect(maps.Values(ips)), ip.String()) {
		t.Errorf("haproxy address %q: want a fixed address of its own in %s", lb.Networks[netName].IPv4Address, subnet)
	}

	dc, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Log("docker-compose is not installed: the file is not validated by compose")
		return
	}
	cmd := exec.Command(dc, "-f", composeFile, "config", "-q")
	cmd.Env = append(testbin.BaseEnv(), "PREFSD_CLUSTER_KEY="+clusterKey, "PREFSD_ADMIN_TOKEN="+adminToken)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
