package local

import "path/filepath"

// PKIDir is where a System keeps its local CA and the gRPC certificate of
// each program (package pki): created on the first start, kept across
// restarts like the data.
func PKIDir(dataDir string) string { return filepath.Join(dataDir, "pki") }

// PKIIdentities are the programs a System makes a certificate for: the
// gateway and the services, and shopctl, the operator's identity that the
// services accept besides the gateway (GRPC_ALLOWED_CLIENTS).
var PKIIdentities = []string{NameGateway, Orders, Payments, "shopctl"}
