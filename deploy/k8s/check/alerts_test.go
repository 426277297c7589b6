package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// checkPrometheusRule checks that the overlay carries one PrometheusRule
// and that its spec is monitoring/alerts.yml, rule for rule.
func checkPrometheusRule(root string, objs []Object) []error {
	rules := OfKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		return []error{fmt.Errorf("%d PrometheusRules, want 1", len(rules))}
	}
	b, err := os.ReadFile(filepath.Join(root, "monitoring/alerts.yml"))
	if err != nil {
		return []error{err}
	}
	var want any
	if err := yaml.Unmarshal(b, &want); err != nil {
		return []error{fmt.Errorf("monitoring/alerts.yml: %w", err)}
	}
	// Both through JSON, so that numbers and maps have one Go type.
	got, err := viaJSON(Get(rules[0], "spec"))
	if err != nil {
		return []error{err}
	}
	if d := cmp.Diff(want, got); d != "" {
		return []error{fmt.Errorf("PrometheusRule %s differs from monitoring/alerts.yml (-alerts.yml +rule):\n%s", rules[0].Name(), d)}
	}
	return nil
}

func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// TestPrometheusRuleIsAlertsFile checks every overlay's PrometheusRule
// (checkPrometheusRule).
func TestPrometheusRuleIsAlertsFile(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, objs []Object) []error { return checkPrometheusRule(root(t), objs) })
}
