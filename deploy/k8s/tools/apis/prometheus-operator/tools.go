//go:build tools

// Package apis pins prometheus-operator's Go API definitions, from which controller-gen
// generates its CRDs into deploy/k8s/crds/prometheus-operator/. A module of its own, outside
// go.work, so that the packages resolve against prometheus-operator's own dependencies.
package apis

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
