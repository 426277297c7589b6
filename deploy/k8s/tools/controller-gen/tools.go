//go:build tools

// Package controllergen pins controller-gen, which generates the CRDs of
// CloudNativePG, KEDA, cert-manager and prometheus-operator from their Go API
// packages (each pinned in a module of its own under deploy/k8s/tools/crds/).
// It is a module of its own, outside go.work.
package controllergen

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
