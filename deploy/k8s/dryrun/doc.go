// Package dryrun holds the API-server half of the manifest check of
// deploy/k8s (its tests only): the committed CRDs are what the pinned
// generators write, every overlay's kustomize output is accepted by a real
// kube-apiserver in a server-side dry run with strict field validation, and
// manifests broken on purpose (testdata/refused) are refused. See
// deploy/k8s/README.md.
package dryrun
