//go:build docker

package deploy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// This file runs only with -tags docker: it builds images and starts
// containers, which takes minutes and a Docker daemon.

// dockerCmd runs a docker or compose command and returns its output.
type dockerCmd struct {
	t       *testing.T
	compose []string // docker-compose, or docker compose
	project string
	env     []string
}

func (d *dockerCmd) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(testbin.BaseEnv(), d.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, testbin.Tail(string(out), 4000))
	}
	return string(out), nil
}

// must runs a command and fails the test if it fails.
func (d *dockerCmd) must(timeout time.Duration, name string, args ...string) string {
	d.t.Helper()
	out, err := d.run(timeout, name, args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// composeArgs prefixes args with the compose command, project and file.
func (d *dockerCmd) composeArgs(args ...string) (string, []string) {
	all := append(append([]string{}, d.compose[1:]...), "-p", d.project, "-f", composeFile)
	return d.compose[0], append(all, args...)
}

func (d *dockerCmd) composeMust(timeout time.Duration, args ...string) string {
	d.t.Helper()
	name, all := d.composeArgs(args...)
	return d.must(timeout, name, all...)
}

// container returns the id of a service's container.
func (d *dockerCmd) container(service string) string {
	d.t.Helper()
	id := strings.TrimSpace(d.composeMust(time.Minute, "ps", "-q", service))
	if id == "" {
		d.t.Fatalf("service %s has no container", service)
	}
	return id
}

// inspect returns a docker inspect template's value for a container.
func (d *dockerCmd) inspect(id, format string) string {
	d.t.Helper()
	return strings.TrimSpace(d.must(time.Minute, "docker", "inspect", "-f", format, id))
}

// freeSubnetPrefix returns the first three octets of a /24 in
// 172.28.0.0/16 that no Docker network uses.
func freeSubnetPrefix(d *dockerCmd) string {
	d.t.Helper()
	used := d.must(time.Minute, "sh", "-c", `docker network ls -q | xargs -r docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}'`)
	var nets []*net.IPNet
	for _, s := range strings.Fields(used) {
		if _, n, err := net.ParseCIDR(s); err == nil {
			nets = append(nets, n)
		}
	}
	start := os.Getpid() % 150
	for i := range 150 {
		prefix := fmt.Sprintf("172.28.%d", 100+(start+i)%150)
		ip := net.ParseIP(prefix + ".1")
		free := true
		for _, n := range nets {
			if n.Contains(ip) {
				free = false
			}
		}
		if free {
			return prefix
		}
	}
	d.t.Fatal("no free /24 in 172.28.100.0-172.28.249.0 for the test network")
	return ""
}

// TestDockerCompose builds the prefsd and haproxy images, starts
// deploy/compose.yaml, and, with a client writing and reading through
// haproxy all along, cuts one node off the network, reconnects it and
// waits for every node to have the same state, then kills another node.
// Containers, network, volumes and images are removed however it ends.
func TestDockerCompose(t *testing.T) {
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon answers (docker info: %v): skipping\n%s", err, testbin.Tail(string(out), 500))
	}
	var compose []string
	if exec.Command("docker-compose", "version").Run() == nil {
		compose = []string{"docker-compose"}
	} else if exec.Command("docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else {
		t.Skip("neither docker-compose nor docker compose is installed")
	}
	haproxyBinary(t) // the haproxy image is made from the host's haproxy
	bin := staticPrefsdBinary(t)

	suffix := fmt.Sprintf("%d", os.Getpid())
	listen := testbin.FreeAddrs(t, 1)[0]
	d := &dockerCmd{t: t, compose: compose, project: "prefsdtest" + suffix}
	prefsdImage, haproxyImage := "prefsd-test:"+suffix, "prefsd-haproxy-test:"+suffix
	d.env = []string{
		"PREFSD_IMAGE=" + prefsdImage,
		"PREFSD_HAPROXY_IMAGE=" + haproxyImage,
		"PREFSD_CLUSTER_KEY=" + clusterKey,
		"PREFSD_ADMIN_TOKEN=" + adminToken,
		"PREFSD_LISTEN=" + listen,
		"PREFSD_RAFT_HEARTBEAT_TIMEOUT=500ms",
		"PREFSD_RAFT_ELECTION_TIMEOUT=500ms",
	}
	prefix := freeSubnetPrefix(d)
	d.env = append(d.env, "PREFSD_SUBNET_PREFIX="+prefix)

	t.Cleanup(func() {
		if t.Failed() {
			name, args := d.composeArgs("logs", "--no-color", "--tail", "150")
			out, _ := d.run(time.Minute, name, args...)
			t.Logf("===== compose logs:\n%s", testbin.Tail(out, 64<<10))
		}
		name, args := d.composeArgs("down", "--volumes", "--remove-orphans", "--timeout", "5")
		if out, err := d.run(3*time.Minute, name, args...); err != nil {
			t.Errorf("cleanup: %v\n%s", err, out)
		}
		if out, err := d.run(time.Minute, "docker", "rmi", "-f", prefsdImage, haproxyImage); err != nil {
			t.Logf("cleanup: %v\n%s", err, out)
		}
	})

	// The image, from a context laid out as the repository is, with the
	// static binary where make build puts it.
	ctxDir := t.TempDir()
	for _, f := range []string{"deploy/Dockerfile", "deploy/image/etc/passwd", "deploy/image/etc/group", "deploy/image/data/README"} {
		data, err := os.ReadFile(strings.TrimPrefix(f, "deploy/"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(ctxDir, f), data, 0o644)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ctxDir, "bin/prefsd"), data, 0o755)
	start := time.Now()
	d.must(5*time.Minute, "docker", "build", "-q", "-f", filepath.Join(ctxDir, "deploy/Dockerfile"), "-t", prefsdImage, ctxDir)
	d.must(5*time.Minute, "./"+haproxyBuild, haproxyImage)
	t.Logf("built %s and %s in %v", prefsdImage, haproxyImage, time.Since(start).Round(time.Second))

	start = time.Now()
	d.composeMust(5*time.Minute, "up", "-d", "--no-build")
	services := []string{"n1", "n2", "n3"}
	ids, bases := map[string]string{}, map[string]string{}
	for i, s := range services {
		ids[s] = d.container(s)
		bases[s] = fmt.Sprintf("http://%s.%d:8080", prefix, 11+i)
	}
	all := []string{bases["n1"], bases["n2"], bases["n3"]}
	waitMembers(t, all, 3, 2*time.Minute)
	testbin.Eventually(t, 2*time.Minute, "every container to be healthy (prefsd healthcheck)", func() error {
		for _, s := range services {
			if h := d.inspect(ids[s], "{{.State.Health.Status}}"); h != "healthy" {
				return fmt.Errorf("%s is %s", s, h)
			}
		}
		return nil
	})
	t.Logf("three nodes ready and healthy %v after compose up", time.Since(start).Round(time.Second))
	if u := d.inspect(ids["n1"], "{{.Config.User}}"); u != "65532:65532" {
		t.Errorf("n1 runs as %q, want 65532:65532", u)
	}

	lb := "http://" + listen
	testbin.Eventually(t, time.Minute, "haproxy to pass requests", func() error { return ready(lb) })
	l := newLedger(t, prefsClient{base: lb})
	for range 10 {
		l.step(20 * time.Second)
	}

	// Cut the leader off the network, and carry on through haproxy.
	leader := waitMembers(t, all, 3, time.Minute)
	network := d.project + "_prefsd"
	cutIP := d.inspect(ids[leader], `{{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`)
	d.must(time.Minute, "docker", "network", "disconnect", network, ids[leader])
	cut := time.Now()
	t.Logf("disconnected %s (the leader, %s) from %s", leader, cutIP, network)
	l.step(time.Minute)
	t.Logf("first write and read through haproxy %v after the disconnect; %d failed requests so far",
		time.Since(cut).Round(time.Millisecond), l.failures)
	for range 10 {
		l.step(30 * time.Second)
	}
	var rest []string
	for _, s := range services {
		if s != leader {
			rest = append(rest, bases[s])
		}
	}
	if newLeader := waitMembers(t, rest, 3, time.Minute); newLeader == leader {
		t.Fatalf("the connected nodes still follow %s", leader)
	}

	// Reconnect it where it was; it catches up.
	d.must(time.Minute, "docker", "network", "connect", "--ip", cutIP, "--alias", leader, network, ids[leader])
	rejoined := time.Now()
	waitMembers(t, all, 3, 2*time.Minute)
	testbin.Eventually(t, 2*time.Minute, "all three nodes to have the same state", func() error { return sameDigests(all) })
	t.Logf("%s reconnected; all digests equal %v later", leader, time.Since(rejoined).Round(time.Millisecond))
	for range 5 {
		l.step(30 * time.Second)
	}

	// Kill the current leader; the two others carry on.
	victim := waitMembers(t, all, 3, time.Minute)
	d.must(time.Minute, "docker", "kill", ids[victim])
	killed := time.Now()
	testbin.Eventually(t, time.Minute, victim+" to stay down after docker kill", func() error {
		if st := d.inspect(ids[victim], "{{.State.Status}}"); st != "exited" {
			return fmt.Errorf("%s is %s", victim, st)
		}
		return nil
	})
	l.step(time.Minute)
	t.Logf("killed %s (the leader); first write and read through haproxy %v later", victim, time.Since(killed).Round(time.Millisecond))
	for range 10 {
		l.step(30 * time.Second)
	}
	var survivors []string
	for _, s := range services {
		if s != victim {
			survivors = append(survivors, bases[s])
		}
	}
	l.checkAll(30 * time.Second)
	testbin.Eventually(t, time.Minute, "the two surviving nodes to have the same state", func() error { return sameDigests(survivors) })
	t.Logf("%d writes acknowledged and read back through haproxy; %d failed requests were sent again", len(l.acked), l.failures)
}

func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// staticPrefsdBinary builds prefsd as make build does (no cgo, so that it
// runs in an empty image) into a temporary directory.
func staticPrefsdBinary(t *testing.T) string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "prefsd")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "hashicorpmetrics", "-o", bin, "./cmd/prefsd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", root, err, out)
	}
	return bin
}
