package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool finds Debian's promtool: on PATH, else extracted from the
// prometheus package (apt-get download, no installation: the package would
// start a Prometheus server) into the user's cache.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no promtool on PATH and no cache directory to unpack Debian's: %v", err)
	}
	dir := filepath.Join(cache, "callbackd-test", "prometheus")
	bin := filepath.Join(dir, "usr", "bin", "promtool")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no promtool on PATH and no apt-get to fetch Debian's prometheus package")
	}
	if os.Geteuid() != 0 {
		t.Skip("no promtool on PATH; fetching Debian's prometheus package needs root (CI runs as root), or install it: sudo apt-get install prometheus")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", "prometheus")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := download(); err != nil {
		t.Logf("apt-get download prometheus: %v\n%s; updating the package lists", err, out)
		if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out, err := download(); err != nil {
			t.Fatalf("apt-get download prometheus: %v\n%s", err, out)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "prometheus_*.deb"))
	if len(debs) == 0 {
		t.Fatal("apt-get download left no prometheus_*.deb")
	}
	x := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./usr/bin/promtool`, "sh", debs[0], dir)
	if out, err := x.CombinedOutput(); err != nil {
		t.Fatalf("unpack promtool: %v\n%s", err, out)
	}
	os.Remove(debs[0])
	return bin
}

// The alert rules load, and each fires on the series that should raise
// it (prometheus/callbackd-rules.test.yml).
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{{"check", "rules", "callbackd-rules.yml"}, {"test", "rules", "callbackd-rules.test.yml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// exported lists the metric names callbackd registers, read from the
// sources that register them.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{
		// Counted by the queue's sweep and claim (callback/): written
		// against these names.
		"callbackd_queue_invalid_rows_total": true,
		"callbackd_claim_errors_total":       true,
	}
	sub := regexp.MustCompile(`Namespace: namespace,(?: Subsystem: "([a-z_]+)",)? Name: "([a-z_]+)"`)
	full := regexp.MustCompile(`Name: "(callbackd_[a-z_]+)"`)
	for _, src := range []string{"../metrics/metrics.go", "../cmd/callbackd/probe.go"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sub.FindAllStringSubmatch(string(b), -1) {
			n := "callbackd_"
			if m[1] != "" {
				n += m[1] + "_"
			}
			names[n+m[2]] = true
		}
		for _, m := range full.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	return names
}

var metricRef = regexp.MustCompile(`callbackd_[a-z_]+`)

func checkRefs(t *testing.T, where, expr string, known map[string]bool) {
	for _, n := range metricRef.FindAllString(expr, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !known[n] && !known[base] {
			t.Errorf("%s uses %s, which callbackd does not export", where, n)
		}
	}
}

// Every dashboard query and alert rule reads a series callbackd exports.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	known := exported(t)
	if len(known) < 15 {
		t.Fatalf("found only %d metric names in the sources", len(known))
	}
	b, err := os.ReadFile("grafana/callbackd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			checkRefs(t, "panel "+p.Title, tg.Expr, known)
		}
	}
	if d.UID == "" || queries < 15 {
		t.Errorf("dashboard uid %q, %d queries", d.UID, queries)
	}
	rules, err := os.ReadFile("prometheus/callbackd-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "description:") && !strings.HasPrefix(l, "summary:") {
			checkRefs(t, "rule line "+l, l, known)
		}
	}
}
