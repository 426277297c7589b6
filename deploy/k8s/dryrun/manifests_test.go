package dryrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// overlays are the kustomize overlays to check: every deploy/k8s/overlays/*
// and this package's own minimal one, which uses a kind of each operator.
func overlays(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, g := range []string{filepath.Join(root, "deploy/k8s/overlays/*/kustomization.yaml"), "testdata/overlays/*/kustomization.yaml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range m {
			dirs = append(dirs, filepath.Dir(k))
		}
	}
	// Once the tree has a base, its two overlays must be there to check.
	if _, err := os.Stat(filepath.Join(root, "deploy/k8s/base")); err == nil {
		for _, want := range []string{"dev", "production"} {
			if _, err := os.Stat(filepath.Join(root, "deploy/k8s/overlays", want, "kustomization.yaml")); err != nil {
				t.Errorf("overlay %s: %v", want, err)
			}
		}
	}
	return dirs
}

// TestOverlaysAreAccepted sends every overlay's `kubectl kustomize` output
// through a server-side dry run with strict field validation: each object
// passes the API server's schema (built-in kinds and the generated CRDs,
// CEL rules included), defaulting and admission, and nothing is unknown.
func TestOverlaysAreAccepted(t *testing.T) {
	s := apiServer(t)
	ctx := context.Background()
	for _, dir := range overlays(t) {
		t.Run(strings.TrimPrefix(dir, root+"/"), func(t *testing.T) {
			manifests, err := s.Kubectl(ctx, nil, "kustomize", dir)
			if err != nil {
				t.Fatal(err)
			}
			out, err := dryRun(ctx, s, manifests)
			if err != nil {
				t.Fatalf("refused by the API server: %v", err)
			}
			if n := strings.Count(string(out), "(server dry run)"); n < 2 {
				t.Fatalf("no object applied:\n%s", out)
			}
			t.Logf("accepted:\n%s", out)
		})
	}
}

// TestBrokenManifestsAreRefused shows that the check can fail: each
// manifest carries one mistake of a kind the dry run must catch, and the
// same manifest with the mistake undone (fix) is accepted, so it is
// refused for that mistake and nothing else.
func TestBrokenManifestsAreRefused(t *testing.T) {
	s := apiServer(t)
	ctx := context.Background()
	tests := []struct {
		name, file string
		want       string    // in kubectl's refusal
		fix        [2]string // old, new: undoes the mistake
	}{
		{name: "UnknownField", file: "deployment-unknown-field.yaml",
			want: `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`,
			fix:  [2]string{"imagePullPolicyy", "imagePullPolicy"}},
		{name: "SelectorNotMatchingLabels", file: "deployment-selector.yaml",
			want: "`selector` does not match template `labels`",
			fix:  [2]string{"app: gateway-typo", "app: gateway"}},
		{name: "VariableSetTwice", file: "deployment-env-twice.yaml",
			want: `hides previous definition of "GATEWAY_HTTP_ADDR"`,
			fix:  [2]string{"- name: GATEWAY_HTTP_ADDR\n          value: \":8081\"", "- name: GATEWAY_ADMIN_ADDR\n          value: \":8081\""}},
		{name: "PortListedTwice", file: "service-port-twice.yaml",
			want: "spec.ports[1]: Duplicate value",
			fix:  [2]string{"- name: admin\n    port: 9090", "- name: admin\n    port: 9091"}},
		{name: "UnknownFieldInCustomResource", file: "kafkatopic-unknown-field.yaml",
			want: `unknown field "spec.partition"`,
			fix:  [2]string{"partition:", "partitions:"}},
		{name: "WrongType", file: "kafkatopic-wrong-type.yaml",
			want: `spec.partitions: Invalid value: "string"`,
			fix:  [2]string{`"twelve"`, "12"}},
		{name: "UnservedVersion", file: "kafkatopic-v1beta2.yaml",
			want: `no matches for kind "KafkaTopic" in version "kafka.strimzi.io/v1beta2"`,
			fix:  [2]string{"kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"}},
		{name: "CELRuleKEDA", file: "scaledobject-min-over-max.yaml",
			want: "minReplicaCount must be less than or equal to maxReplicaCount",
			fix:  [2]string{"minReplicaCount: 13", "minReplicaCount: 1"}},
		{name: "CELRuleStrimzi", file: "kafkaconnect-metrics-without-config.yaml",
			want: "valueFrom property is required",
			fix:  [2]string{"type: jmxPrometheusExporter", "type: jmxPrometheusExporter\n    valueFrom:\n      configMapKeyRef: {name: connect-metrics, key: rules.yml}"}},
		{name: "StringExpected", file: "scaledobject-metadata-int.yaml",
			want: "spec.triggers[0].metadata.lagThreshold: Invalid value: \"integer\"",
			fix:  [2]string{"lagThreshold: 50", `lagThreshold: "50"`}},
		{name: "RequiredFieldMissing", file: "kafkanodepool-no-storage.yaml",
			want: "spec.storage: Required value",
			fix:  [2]string{"# storage:\n  #   type: persistent-claim\n  #   size: 100Gi", "storage:\n    type: persistent-claim\n    size: 100Gi"}},
	}
	if err := createNamespace(ctx, s, "refused"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/refused", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := dryRun(ctx, s, b)
			if err == nil {
				t.Fatalf("accepted, want refused with %q:\n%s", tt.want, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("refused, but not with %q:\n%v", tt.want, err)
			}
			fixed := strings.Replace(string(b), tt.fix[0], tt.fix[1], 1)
			if fixed == string(b) {
				t.Fatalf("the fix %q does not apply", tt.fix[0])
			}
			if out, err := dryRun(ctx, s, []byte(fixed)); err != nil {
				t.Fatalf("with the mistake undone, still refused: %v\n%s", err, out)
			}
		})
	}
}
