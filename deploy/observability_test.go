package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/prefsd/prefsd/internal/testbin"
)

const (
	dashboardFile = "grafana/prefsd-dashboard.json"
	alertsFile    = "prometheus/alerts.yaml"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval,omitempty"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert         string            `yaml:"alert,omitempty"`
	Record        string            `yaml:"record,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// dashboardExprs returns every PromQL expression of the dashboard's
// panels, keyed by "panel title/refId".
func dashboardExprs(d dashboard) map[string]string {
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title+"/"+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key is an error, as in Prometheus
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rf
}

// promDuration is Prometheus's duration syntax.
var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// TestAlertRulesShape checks the alert file against the shape Prometheus
// loads: groups with unique names, each rule an alert with an expression,
// a valid duration, a severity and a summary; and the alerts the
// operations guide relies on.
func TestAlertRulesShape(t *testing.T) {
	rf := readRules(t)
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q is empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" && !promDuration.MatchString(g.Interval) {
			t.Errorf("group %s: interval %q is not a duration", g.Name, g.Interval)
		}
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Record != "":
				t.Errorf("group %s: rule %+v must be an alert", g.Name, r)
			case alerts[r.Alert]:
				t.Errorf("alert %s is defined twice", r.Alert)
			case strings.TrimSpace(r.Expr) == "":
				t.Errorf("alert %s has no expr", r.Alert)
			case r.For != "" && !promDuration.MatchString(r.For):
				t.Errorf("alert %s: for %q is not a duration", r.Alert, r.For)
			case !slices.Contains([]string{"info", "warning", "critical"}, r.Labels["severity"]):
				t.Errorf("alert %s: severity %q is not info, warning or critical", r.Alert, r.Labels["severity"])
			case r.Annotations["summary"] == "" || r.Annotations["description"] == "":
				t.Errorf("alert %s needs a summary and a description", r.Alert)
			}
			alerts[r.Alert] = true
		}
	}
	for _, want := range []string{
		"PrefsdLeaderChangesTooFrequent", "PrefsdNoLeader", "PrefsdApplyLatencyHigh", "PrefsdCommitLagGrowing",
		"PrefsdSnapshotFailing", "PrefsdQuotaRefusalsSpike", "PrefsdHTTP5xxRate",
	} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: PromQL syntax not checked by Prometheus itself")
		return
	}
	if out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", alertsFile, err, out)
	}
}

// TestDashboardShape checks the dashboard is one Grafana can import: panel
// ids unique, every panel placed on the grid, every query on the
// data source variable; and that it covers what an operator needs.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Fatalf("title %q uid %q: both are needed", d.Title, d.UID)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "job") {
		t.Fatalf("template variables %v, want datasource and job", vars)
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if other, ok := ids[p.ID]; ok || p.ID == 0 {
				t.Errorf("panel %q: id %d is zero or also %q's", p.Title, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
			}
			if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0) {
				t.Errorf("panel %q: needs targets on the ${datasource} variable", p.Title)
			}
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, `job=~"$job"`) {
					t.Errorf("panel %q %s: %q does not select $job", p.Title, tg.RefID, tg.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	exprs := dashboardExprs(d)
	all := strings.Join(slices.Collect(maps.Values(exprs)), "\n")
	for _, want := range []struct{ what, pattern string }{
		{"leader changes", `prefsd_raft_leader_changes_total`},
		{"has leader", `prefsd_raft_has_leader`},
		{"apply latency", `histogram_quantile\(0\.99, sum by \(le\) \(rate\(prefsd_raft_apply_duration_seconds_bucket`},
		{"commit/applied lag", `prefsd_raft_commit_index\{[^}]*\} - prefsd_raft_applied_index`},
		{"snapshot failures", `prefsd_raft_snapshot_takeSnapshot_count.*prefsd_raft_snapshot_persist_count`},
		{"quota refusals", `prefsd_fsm_quota_refusals_total`},
		{"request rate per dialect", `sum by \(dialect\) \(rate\(prefsd_http_requests_total\{job=~"\$job"\}`},
		{"5xx rate per dialect", `sum by \(dialect\) \(rate\(prefsd_http_requests_total\{[^}]*code=~"5\.\."`},
		{"read latency", `prefsd_raft_read_index_duration_seconds_bucket`},
		{"forwarded requests", `prefsd_forwarded_requests_total`},
	} {
		if !regexp.MustCompile(want.pattern).MatchString(all) {
			t.Errorf("no panel shows %s (no expression matches %s)", want.what, want.pattern)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: PromQL syntax not checked by Prometheus itself")
		return
	}
	// promtool checks expressions in rule files: make one recording rule
	// per panel query, with Grafana's variables given values.
	var rules ruleFile
	rules.Groups = append(rules.Groups, struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval,omitempty"`
		Rules    []rule `yaml:"rules"`
	}{Name: "dashboard"})
	keys := slices.Sorted(maps.Keys(exprs))
	for i, k := range keys {
		e := strings.NewReplacer("$__rate_interval", "5m", "$job", ".+").Replace(exprs[k])
		rules.Groups[0].Rules = append(rules.Groups[0].Rules, rule{Record: fmt.Sprintf("dashboard:q%d", i), Expr: e})
	}
	data, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool rejects a dashboard query: %v\n%s\n%s", err, out, data)
	}
}

// TestDashboardAndAlertsUseExportedMetrics starts a node, makes it export
// every kind of series (writes, consistent reads, a quota refusal,
// snapshots), scrapes /metrics and requires every metric name the
// dashboard and the alerts refer to.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	refs := map[string][]string{} // metric name -> where it is used
	for where, e := range dashboardExprs(readDashboard(t)) {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("dashboard %s: no metric in %q", where, e)
		}
		for _, n := range names {
			refs[n] = append(refs[n], "dashboard "+where)
		}
	}
	for _, v := range readDashboard(t).Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if m := regexp.MustCompile(`label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`).FindStringSubmatch(fmt.Sprint(q["query"])); m != nil {
				refs[m[1]] = append(refs[m[1]], "dashboard variable "+v.Name)
			}
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			names := metricNames(r.Expr)
			if len(names) == 0 {
				t.Errorf("alert %s: no metric in %q", r.Alert, r.Expr)
			}
			for _, n := range names {
				refs[n] = append(refs[n], "alert "+r.Alert)
			}
		}
	}

	n := startNode(t, "n1", "--bootstrap",
		"--raft-snapshot-threshold", "8", "--raft-snapshot-interval", "100ms", "--raft-trailing-logs", "4")
	testbin.Eventually(t, 30*time.Second, "the node to be ready", func() error {
		if err := n.alive(); err != nil {
			return err
		}
		return ready(n.base())
	})
	l := newLedger(t, prefsClient{base: n.base()})
	for range 12 {
		l.step(10 * time.Second)
	}
	// Lower the admin's quota below what it holds: the next new key is
	// refused by the state machine.
	res, err := testbin.Do(http.MethodPut, n.base()+"/api/admin/users/admin/quota", "Token "+adminToken, "application/json", map[string]int{"max_preferences": 1})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("PUT quota: %v %v", res, err)
	}
	if err := (prefsClient{base: n.base()}).put("one-too-many", "x"); err == nil {
		t.Fatal("a write over the quota was accepted")
	}

	// Raft emits a snapshot's metrics one by one as its steps finish, so
	// wait for every referenced name rather than for the first of them.
	var exported map[string]bool
	testbin.Eventually(t, 30*time.Second, "every referenced metric to show in /metrics", func() error {
		if err := n.alive(); err != nil {
			return err
		}
		var err error
		exported, err = scrape(n.base() + "/metrics")
		if err != nil {
			return err
		}
		var missing []string
		for _, name := range slices.Sorted(maps.Keys(refs)) {
			if !exported[name] {
				missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(refs[name], ", ")))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not exported by prefsd: %s", strings.Join(missing, "; "))
		}
		return nil
	})
	t.Logf("%d metric names referenced, all among the %d prefsd exports", len(refs), len(exported))
}

// scrape returns the sample names (with their _bucket, _sum and _count
// suffixes) of a Prometheus text exposition.
func scrape(url string) (map[string]bool, error) {
	res, err := testbin.Do(http.MethodGet, url, "", "", nil)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %v", url, res)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(res.Body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, sc.Err()
}

var (
	// promStrings are PromQL string literals.
	promStrings = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// promBraces are label matchers; promBrackets ranges and subqueries.
	promBraces   = regexp.MustCompile(`\{[^}]*\}`)
	promBrackets = regexp.MustCompile(`\[[^\]]*\]`)
	// promGrouping are label lists of aggregations and vector matching.
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// promTokens are numbers (with what follows them, as in 1e3 or 5m),
	// variables, and identifiers with the parenthesis of a call if any.
	promTokens = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|\$[a-zA-Z0-9_]+|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?`)
	// promKeywords are identifiers that are not metric names.
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "atan2": true,
	}
)

// metricNames returns the metric names a PromQL expression selects:
// identifiers that are not functions, aggregations, keywords, label names
// or parts of strings, durations and numbers.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promBraces.ReplaceAllString(e, " ")
	e = promBrackets.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	var names []string
	for _, m := range promTokens.FindAllStringSubmatch(e, -1) {
		name, call := m[1], m[2] != ""
		if name == "" || call || promKeywords[strings.ToLower(name)] || seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y", job=~"$job"}[5m])))`, []string{"a_bucket"}},
		{`max by (job) (b) - on (job) group_right () c`, []string{"b", "c"}},
		{`x > 3 * 8192`, []string{"x"}},
		{`rate(foo[5m] offset 1h) > 1e3`, []string{"foo"}},
		{`deriv((a - b)[10m:1m]) > 0`, []string{"a", "b"}},
		{`sum(rate(q{code=~"5.."}[$__rate_interval])) / sum without (code) (rate(q[5m]))`, []string{"q"}},
		{`up == 0 and on () vector(1)`, []string{"up"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`prefsd_raft_commitTime{quantile="0.99"}`, []string{"prefsd_raft_commitTime"}},
		{`sum(rate(x[5m])) by (dialect) / ignoring(code) y`, []string{"x", "y"}},
		{`vector(1)`, nil},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
