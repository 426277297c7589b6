package check

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var (
	// queried finds the metric names of a PromQL expression the checks
	// know the source of: the programs' (shop_, http_) and Debezium's.
	queried = regexp.MustCompile(`\b((?:shop|http|debezium)_[A-Za-z0-9_]+)`)
	// registered finds a metric name a Go file registers.
	registered = regexp.MustCompile(`Name:\s*"([a-z_]+)"`)
	// histogram are the series a histogram adds to its name.
	histogram = regexp.MustCompile(`_(bucket|sum|count)$`)
)

// exported returns the metric names the programs register (Name: "..." in
// their Go source, tests left out) and patterns of the names the JMX
// exporter rules make.
func exported(root string) (map[string]bool, []*regexp.Regexp, error) {
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range registered.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rules, err := filepath.Glob(filepath.Join(root, "stack/local/jmx/*.yml"))
	if err != nil {
		return nil, nil, err
	}
	var patterns []*regexp.Regexp
	for _, f := range rules {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var cfg struct {
			Rules []struct {
				Name string `json:"name"`
			} `json:"rules"`
		}
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, r := range cfg.Rules {
			re := regexp.QuoteMeta(r.Name)
			re = regexp.MustCompile(`\\\$[0-9]+`).ReplaceAllString(re, `[A-Za-z0-9_]+`)
			patterns = append(patterns, regexp.MustCompile("^"+re+"$"))
		}
	}
	return names, patterns, nil
}

// checkDashboard checks that every metric the dashboard's panels query is
// one the programs or the JMX exporters serve: a renamed metric leaves a
// panel empty, and nothing else notices.
func checkDashboard(root string, panels []Panel) []error {
	names, patterns, err := exported(root)
	if err != nil {
		return []error{err}
	}
	if !names["shop_consumer_lag_messages"] || len(patterns) == 0 {
		return []error{fmt.Errorf("found %d registered metrics and %d JMX rules: the patterns are wrong", len(names), len(patterns))}
	}
	var errs []error
	for _, p := range panels {
		for _, m := range queried.FindAllString(p.Expr, -1) {
			base := histogram.ReplaceAllString(m, "")
			ok := names[m] || names[base]
			for _, re := range patterns {
				ok = ok || re.MatchString(m)
			}
			if !ok {
				errs = append(errs, fmt.Errorf("panel %q queries %s, which nothing serves", p.Title, m))
			}
		}
	}
	return errs
}

// TestDashboardMetricsExist checks DashboardPanels (checkDashboard), and
// shows the check failing on a misspelt metric.
func TestDashboardMetricsExist(t *testing.T) {
	r := root(t)
	report(t, "dashboard", checkDashboard(r, DashboardPanels))
	broken := append([]Panel{{Title: "Lag", Expr: "sum(shop_consumer_lag)"}}, DashboardPanels...)
	errs := checkDashboard(r, broken)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "queries shop_consumer_lag, which nothing serves") {
		t.Errorf("misspelt metric: got %v, want one error naming shop_consumer_lag", errs)
	}
}
