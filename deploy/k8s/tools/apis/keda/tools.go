//go:build tools

// Package apis pins KEDA's Go API definitions, from which controller-gen
// generates its CRDs into deploy/k8s/crds/keda/. A module of its own, outside
// go.work, so that the packages resolve against KEDA's own dependencies.
package apis

import (
	_ "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
)
