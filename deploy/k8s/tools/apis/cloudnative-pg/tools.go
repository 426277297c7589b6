//go:build tools

// Package apis pins CloudNativePG's Go API definitions, from which controller-gen
// generates its CRDs into deploy/k8s/crds/cloudnative-pg/. A module of its own, outside
// go.work, so that the packages resolve against CloudNativePG's own dependencies.
package apis

import (
	_ "github.com/cloudnative-pg/cloudnative-pg/api/v1"
)
