//go:build tools

// Package apis pins cert-manager's Go API definitions, from which controller-gen
// generates its CRDs into deploy/k8s/crds/cert-manager/. A module of its own, outside
// go.work, so that the packages resolve against cert-manager's own dependencies.
package apis

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)
