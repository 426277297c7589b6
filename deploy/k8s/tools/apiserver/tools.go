//go:build tools

// Package apiserver pins kube-apiserver and kubectl (kustomize included) for
// the manifest check: k8s.io/kubernetes cannot be installed with go install
// because of its replace directives, so this module requires it and replaces
// each of its staging modules with the release of the same minor version.
// It is a module of its own, outside go.work.
package apiserver

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
