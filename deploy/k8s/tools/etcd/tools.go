//go:build tools

// Package etcd pins the etcd server that the manifest check's API server
// stores in (deploy/k8s/kube builds go.etcd.io/etcd/server/v3 from here).
// It is a module of its own, outside go.work.
package etcd

import _ "go.etcd.io/etcd/server/v3"
