package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repoRoot = "../../.."

// TestPinsMatchWrappers keeps the versions this package names (cache
// directories, logs, docs) those the wrapper modules and pom build.
func TestPinsMatchWrappers(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"Kubernetes", "deploy/k8s/tools/apiserver/go.mod", "k8s.io/kubernetes " + KubernetesVersion},
		{"KubernetesStaging", "deploy/k8s/tools/apiserver/go.mod", "k8s.io/apiserver => k8s.io/apiserver v0." + strings.TrimPrefix(KubernetesVersion, "v1.")},
		{"Etcd", "deploy/k8s/tools/etcd/go.mod", "go.etcd.io/etcd/server/v3 " + EtcdVersion},
		{"ControllerTools", "deploy/k8s/tools/controller-gen/go.mod", "sigs.k8s.io/controller-tools " + ControllerToolsVersion},
		{"Strimzi", "deploy/k8s/tools/apis/strimzi/pom.xml", "<version>" + StrimziVersion + "</version>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s does not pin %q", tt.file, tt.want)
			}
		})
	}
}

// TestAPIModulesPinEachJob: every controller-gen job has its wrapper module
// and it requires the module of each package it generates from.
func TestAPIModulesPinEachJob(t *testing.T) {
	for _, j := range controllerGenJobs {
		t.Run(j.operator, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/k8s/tools/apis", j.operator, "tools.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range j.paths {
				if !strings.Contains(string(b), `"`+p+`"`) {
					t.Errorf("tools.go of %s does not import %s", j.operator, p)
				}
			}
		})
	}
}

func TestJavaMajor(t *testing.T) {
	tests := []struct {
		name, out string
		want      int
	}{
		{"Temurin25", "openjdk version \"25.0.3\" 2026-04-21 LTS\nOpenJDK Runtime Environment Temurin-25.0.3+9", 25},
		{"OpenJDK17", `openjdk version "17.0.15" 2025-04-15`, 17},
		{"Java8", `java version "1.8.0_402"`, 8},
		{"Garbage", "command not found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := javaMajor(tt.out); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
