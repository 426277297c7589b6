// Package check holds the manifest check of deploy/k8s (its tests only):
// the committed CRDs are what the pinned generators write, and every
// overlay's kustomize output is accepted by a real kube-apiserver in a
// server-side dry run with strict field validation, while manifests broken
// on purpose (testdata/refused) are refused. See deploy/k8s/README.md.
package check
