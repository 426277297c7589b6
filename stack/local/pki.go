package local

import "path/filepath"

// PKIDir is where a System keeps its local CA and the gRPC certificate of
// each program (package pki): created on the first start, kept across
// restarts like the data.
func PKIDir(dataDir string) string { return filepath.Join(dataDir, "pki") }

// PKIIdentities are the programs a System makes a certificate for: the
// gateway, the one caller the services accept (GRPC_ALLOWED_CLIENTS), and
// the services. shopctl makes no gRPC call and gets no certificate.
var PKIIdentities = []string{NameGateway, Orders, Payments}
