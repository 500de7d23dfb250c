package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	k8sBase      = "k8s/base"
	k8sBootstrap = "k8s/bootstrap"
)

type objectMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

// k8sObject is one manifest: its kind and name, and the document to
// decode into the kind's type.
type k8sObject struct {
	File string
	Kind string
	Name string
	doc  *yaml.Node
}

func (o k8sObject) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.doc.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", o.File, o.Kind, o.Name, err)
	}
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []envVar `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// port resolves a probe's or Service's target port, a number or a
// container port's name.
func (c container) port(p any) (int, error) {
	switch v := p.(type) {
	case int:
		return v, nil
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort, nil
			}
		}
		if n, err := strconv.Atoi(v); err == nil {
			return n, nil
		}
		return 0, fmt.Errorf("container %s has no port named %q", c.Name, v)
	}
	return 0, fmt.Errorf("port %v is neither a number nor a name", p)
}

type statefulSet struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ServiceName         string `yaml:"serviceName"`
		Replicas            int    `yaml:"replicas"`
		PodManagementPolicy string `yaml:"podManagementPolicy"`
		Selector            struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				SecurityContext struct {
					RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
					RunAsUser    *int64 `yaml:"runAsUser"`
					FSGroup      *int64 `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata objectMeta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type configMap struct {
	Data map[string]string `yaml:"data"`
}

type kustomization struct {
	Resources []string `yaml:"resources"`
}

// readManifests decodes every YAML document of r.
func readManifests(file string, r io.Reader) ([]k8sObject, error) {
	var objs []k8sObject
	dec := yaml.NewDecoder(r)
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var head struct {
			APIVersion string     `yaml:"apiVersion"`
			Kind       string     `yaml:"kind"`
			Metadata   objectMeta `yaml:"metadata"`
		}
		if err := doc.Decode(&head); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if head.APIVersion == "" || head.Kind == "" {
			return nil, fmt.Errorf("%s: a document without apiVersion or kind", file)
		}
		objs = append(objs, k8sObject{File: file, Kind: head.Kind, Name: head.Metadata.Name, doc: &doc})
	}
}

// readDir reads every manifest in dir.
func readDir(t *testing.T, dir string) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var objs []k8sObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o, err := readManifests(f, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	return objs
}

// byKind returns the objects of one kind.
func byKind(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// podEnv evaluates a container's environment as the kubelet would for
// pod ordinal i, with the ConfigMaps in cms and a stand-in for each
// Secret value; it returns the variables and the secrets referenced.
func podEnv(t *testing.T, c container, i int, cms map[string]configMap) (map[string]string, []keyRef) {
	t.Helper()
	env := map[string]string{}
	var secrets []keyRef
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expandK8s(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = fmt.Sprintf("prefsd-%d", i)
			case "metadata.namespace":
				env[e.Name] = "default"
			case "status.podIP":
				env[e.Name] = fmt.Sprintf("10.0.0.%d", 10+i)
			default:
				t.Fatalf("env %s: field %s not modelled", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			secrets = append(secrets, *e.ValueFrom.SecretKeyRef)
			env[e.Name] = "secret-" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := cms[ref.Name]
			if !ok {
				t.Fatalf("env %s: no ConfigMap %s", e.Name, ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Fatalf("env %s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		}
	}
	return env, secrets
}

var k8sVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandK8s replaces $(VAR) with the variable's value, leaving
// references to unknown variables as they are, as Kubernetes does.
func expandK8s(s string, env map[string]string) string {
	return k8sVarRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

func portOf(t *testing.T, flagName, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--%s %q: %v", flagName, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("--%s %q: %v", flagName, addr, err)
	}
	return n
}

// TestKubernetesManifests checks what a running cluster depends on:
// kinds, labels and selectors, the ports the container listens on against
// its arguments, probes, Services and the PDB, the security context, and
// that prefsd's own parser accepts every pod's command line.
func TestKubernetesManifests(t *testing.T) {
	objs := readDir(t, k8sBase)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
	}
	for kind, n := range map[string]int{"StatefulSet": 1, "Service": 2, "PodDisruptionBudget": 1, "ConfigMap": 1, "Kustomization": 1} {
		if kinds[kind] != n {
			t.Errorf("%d %s manifests, want %d", kinds[kind], kind, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The kustomization lists exactly the manifests beside it.
	var kz kustomization
	byKind(objs, "Kustomization")[0].decode(t, &kz)
	var files []string
	for _, o := range objs {
		if o.Kind != "Kustomization" && !slices.Contains(files, filepath.Base(o.File)) {
			files = append(files, filepath.Base(o.File))
		}
	}
	if slices.Sort(files); !slices.Equal(slices.Sorted(slices.Values(kz.Resources)), files) {
		t.Errorf("kustomization resources %v, want the manifests %v", kz.Resources, files)
	}

	var sts statefulSet
	byKind(objs, "StatefulSet")[0].decode(t, &sts)
	spec := sts.Spec
	labels := spec.Template.Metadata.Labels
	if spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", spec.Replicas)
	}
	if spec.PodManagementPolicy != "Parallel" {
		t.Errorf("podManagementPolicy %q: after a full stop, OrderedReady would wait for prefsd-0 to be ready, which needs a quorum", spec.PodManagementPolicy)
	}
	if len(spec.Selector.MatchLabels) == 0 {
		t.Fatal("the StatefulSet selects no labels")
	}
	for k, v := range spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, labels)
		}
	}
	sc := spec.Template.Spec.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.FSGroup == nil {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser and an fsGroup for the volume", sc)
	}
	if len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Template.Spec.Containers))
	}
	c := spec.Template.Spec.Containers[0]
	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		!slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", csc)
	}

	// Probes: ready on /readyz, alive on /healthz, both on the HTTP port.
	var httpPort, raftPort int
	for _, p := range c.Ports {
		switch p.Name {
		case "http":
			httpPort = p.ContainerPort
		case "raft":
			raftPort = p.ContainerPort
		}
	}
	if httpPort == 0 || raftPort == 0 {
		t.Fatalf("container ports %+v: want ones named http and raft", c.Ports)
	}
	for _, pr := range []struct {
		name  string
		probe *probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", pr.name)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s: path %q, want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
		}
		if p, err := c.port(pr.probe.HTTPGet.Port); err != nil || p != httpPort {
			t.Errorf("%s: port %v (%d, %v), want the HTTP port %d", pr.name, pr.probe.HTTPGet.Port, p, err, httpPort)
		}
	}

	// Services: the headless one names the pods, both select them, and
	// their target ports are the container's.
	services := map[string]service{}
	for _, o := range byKind(objs, "Service") {
		var s service
		o.decode(t, &s)
		services[s.Metadata.Name] = s
		if !reflect.DeepEqual(s.Spec.Selector, spec.Selector.MatchLabels) {
			t.Errorf("Service %s selects %v, want the pods' %v", s.Metadata.Name, s.Spec.Selector, spec.Selector.MatchLabels)
		}
		for _, p := range s.Spec.Ports {
			if tp, err := c.port(p.TargetPort); err != nil || tp != p.Port {
				t.Errorf("Service %s port %s: %d -> %v (%d, %v): want the container's port %d", s.Metadata.Name, p.Name, p.Port, p.TargetPort, tp, err, p.Port)
			}
		}
	}
	peers, ok := services[spec.ServiceName]
	if !ok {
		t.Fatalf("serviceName %q is not one of the Services", spec.ServiceName)
	}
	if peers.Spec.ClusterIP != "None" || !peers.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q publishNotReadyAddresses %v: want a headless Service listing pods before they are ready",
			spec.ServiceName, peers.Spec.ClusterIP, peers.Spec.PublishNotReadyAddresses)
	}

	var pdb podDisruptionBudget
	byKind(objs, "PodDisruptionBudget")[0].decode(t, &pdb)
	if pdb.Spec.MaxUnavailable != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, spec.Selector.MatchLabels) {
		t.Errorf("PDB selects %v, want the StatefulSet's %v", pdb.Spec.Selector.MatchLabels, spec.Selector.MatchLabels)
	}

	cms := map[string]configMap{}
	for _, o := range byKind(objs, "ConfigMap") {
		var cm configMap
		o.decode(t, &cm)
		cms[o.Name] = cm
	}
	dataMount := ""
	for _, m := range c.VolumeMounts {
		for _, vct := range spec.VolumeClaimTemplates {
			if vct.Metadata.Name == m.Name {
				dataMount = m.MountPath
			}
		}
	}
	if dataMount == "" {
		t.Fatal("no volume claim template is mounted in the container")
	}

	// Every pod's command line, as the kubelet expands it, must be one
	// prefsd accepts, with addresses that match the ports above.
	var secrets []keyRef
	for i := range spec.Replicas {
		env, refs := podEnv(t, c, i, cms)
		secrets = refs
		var args []string
		for _, a := range c.Args {
			args = append(args, expandK8s(a, env))
		}
		cfg, err := parseConfig(args, env)
		if err != nil {
			t.Fatalf("pod %d: prefsd refuses %q: %v", i, args, err)
		}
		pod := fmt.Sprintf("%s-%d", sts.Metadata.Name, i)
		if cfg.NodeID != pod {
			t.Errorf("pod %d: node id %q, want the pod name %s", i, cfg.NodeID, pod)
		}
		if portOf(t, "http-addr", cfg.HTTPAddr) != httpPort || portOf(t, "advertise-http", cfg.AdvertiseHTTP) != httpPort {
			t.Errorf("pod %d: --http-addr %s --advertise-http %s, want port %d", i, cfg.HTTPAddr, cfg.AdvertiseHTTP, httpPort)
		}
		if portOf(t, "raft-addr", cfg.RaftAddr) != raftPort || portOf(t, "advertise-raft", cfg.AdvertiseRaft) != raftPort {
			t.Errorf("pod %d: --raft-addr %s --advertise-raft %s, want port %d", i, cfg.RaftAddr, cfg.AdvertiseRaft, raftPort)
		}
		if want := pod + "." + spec.ServiceName + ":" + strconv.Itoa(httpPort); cfg.AdvertiseHTTP != want {
			t.Errorf("pod %d: --advertise-http %s, want its name in the headless Service, %s", i, cfg.AdvertiseHTTP, want)
		}
		// A pod's IP changes when it is recreated; its name in the headless
		// Service does not, and raft keeps the name as written.
		if want := pod + "." + spec.ServiceName + ":" + strconv.Itoa(raftPort); cfg.AdvertiseRaft != want {
			t.Errorf("pod %d: --advertise-raft %s, want its name in the headless Service, %s", i, cfg.AdvertiseRaft, want)
		}
		if cfg.DataDir != dataMount {
			t.Errorf("pod %d: --data-dir %s, want the volume's mount path %s", i, cfg.DataDir, dataMount)
		}
		if cfg.ShouldBootstrap() {
			t.Errorf("pod %d would form a cluster of its own: only the bootstrap overlay may start pods without --join", i)
		}
		for _, j := range cfg.Join {
			if !strings.HasPrefix(j, sts.Metadata.Name+"-") || !strings.HasSuffix(j, "."+spec.ServiceName+":"+strconv.Itoa(httpPort)) {
				t.Errorf("pod %d: join address %s is not a pod's name in the headless Service", i, j)
			}
		}
		if len(cfg.Join) != spec.Replicas {
			t.Errorf("pod %d: joins through %d addresses, want the %d pods", i, len(cfg.Join), spec.Replicas)
		}
		if cfg.ClusterKey == "" || cfg.AdminToken == "" {
			t.Errorf("pod %d: no cluster key or admin token in the environment", i)
		}
	}

	// The cluster key and admin token come from one Secret, which the
	// kustomization says how to create.
	kzText, err := os.ReadFile(filepath.Join(k8sBase, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 || secrets[0].Name != secrets[1].Name {
		t.Fatalf("secret references %+v, want the cluster key and admin token from one Secret", secrets)
	}
	for _, want := range []string{"kubectl create secret generic " + secrets[0].Name, "--from-literal=" + secrets[0].Key + "=", "--from-literal=" + secrets[1].Key + "="} {
		if !bytes.Contains(kzText, []byte(want)) {
			t.Errorf("%s/kustomization.yaml does not say %q", k8sBase, want)
		}
	}
}

// TestKubernetesBootstrapOverlay builds both kustomizations with kubectl
// and checks that the bootstrap one starts prefsd-0 alone and without
// members to join, so that it forms the cluster, and differs from the
// base in nothing else: applying the base afterwards adds prefsd-1 and
// prefsd-2 without restarting prefsd-0.
func TestKubernetesBootstrapOverlay(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the kustomizations are not built")
	}
	build := func(dir string) []k8sObject {
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, ee.Stderr)
			}
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		objs, err := readManifests(dir, bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	base, boot := build(k8sBase), build(k8sBootstrap)
	if len(base) != len(boot) {
		t.Fatalf("the base has %d objects, the bootstrap overlay %d", len(base), len(boot))
	}
	var baseSts, bootSts statefulSet
	byKind(base, "StatefulSet")[0].decode(t, &baseSts)
	byKind(boot, "StatefulSet")[0].decode(t, &bootSts)
	if bootSts.Spec.Replicas != 1 {
		t.Errorf("bootstrap replicas %d, want 1", bootSts.Spec.Replicas)
	}
	if !reflect.DeepEqual(baseSts.Spec.Template, bootSts.Spec.Template) {
		t.Error("the bootstrap overlay changes the pod template: applying the base would restart prefsd-0")
	}
	cms := map[string]configMap{}
	for _, o := range byKind(boot, "ConfigMap") {
		var cm configMap
		o.decode(t, &cm)
		cms[o.Name] = cm
	}
	env, _ := podEnv(t, bootSts.Spec.Template.Spec.Containers[0], 0, cms)
	var args []string
	for _, a := range bootSts.Spec.Template.Spec.Containers[0].Args {
		args = append(args, expandK8s(a, env))
	}
	cfg, err := parseConfig(args, env)
	if err != nil {
		t.Fatalf("prefsd refuses the bootstrap pod's %q: %v", args, err)
	}
	if !cfg.ShouldBootstrap() || len(cfg.Join) != 0 {
		t.Errorf("the bootstrap pod has join %q: it would not form the cluster", cfg.Join)
	}
}
