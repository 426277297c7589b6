package grpctls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// keyPair is a program's certificate with its private key and the CA pool
// it verifies its peers with, as read from Files at one moment.
type keyPair struct {
	cert tls.Certificate
	pool *x509.CertPool
	// notAfter is when the certificate expires.
	notAfter time.Time
}

// load reads and parses the three files.
func (f Files) load() (*keyPair, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("gRPC TLS certificate (GRPC_TLS_CERT_FILE %s, GRPC_TLS_KEY_FILE %s): %w", f.CertFile, f.KeyFile, err)
	}
	ca, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("gRPC TLS CA (GRPC_TLS_CA_FILE): %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("gRPC TLS CA (GRPC_TLS_CA_FILE %s): no PEM certificate in it", f.CAFile)
	}
	return &keyPair{cert: cert, pool: pool, notAfter: cert.Leaf.NotAfter}, nil
}

// stamp identifies a version of a file: a rotation changes one of them
// (a cert-manager Secret volume swaps a symbolic link; os.Stat follows it).
type stamp struct {
	mod  time.Time
	size int64
}

// reloader keeps the key pair of Files and reads the files again when one
// of them has changed since. It is safe for concurrent use.
type reloader struct {
	files  Files
	logger *slog.Logger

	mu     sync.Mutex
	stamps [3]stamp
	pair   *keyPair
	// failed are the stamps of files that did not load: tried once, logged
	// once.
	failed [3]stamp
}

// newReloader reads the files once: an error is the program's reason not
// to start.
func newReloader(files Files, logger *slog.Logger) (*reloader, error) {
	r := &reloader{files: files, logger: logger}
	stamps, err := r.stat()
	if err != nil {
		return nil, err
	}
	pair, err := files.load()
	if err != nil {
		return nil, err
	}
	r.stamps, r.pair = stamps, pair
	return r, nil
}

func (r *reloader) stat() ([3]stamp, error) {
	var s [3]stamp
	for i, f := range []struct{ env, name string }{
		{"GRPC_TLS_CERT_FILE", r.files.CertFile}, {"GRPC_TLS_KEY_FILE", r.files.KeyFile}, {"GRPC_TLS_CA_FILE", r.files.CAFile},
	} {
		fi, err := os.Stat(f.name)
		if err != nil {
			return s, fmt.Errorf("gRPC TLS (%s): %w", f.env, err)
		}
		s[i] = stamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

// current returns the key pair for a new handshake: the one read last,
// read again first when a file has changed. A file that cannot be read or
// a pair that does not match (a rotation caught half way) keeps the pair
// read last, logged; the next handshake tries again.
func (r *reloader) current() *keyPair {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps, err := r.stat()
	if stamps == r.stamps || stamps == r.failed {
		return r.pair
	}
	var pair *keyPair
	if err == nil {
		pair, err = r.files.load()
	}
	if err != nil {
		r.failed = stamps
		r.logger.Warn("gRPC TLS files changed but cannot be read; still using the ones read before",
			slog.Any("error", err), slog.Time("not_after", r.pair.notAfter))
		return r.pair
	}
	r.stamps, r.pair = stamps, pair
	r.logger.Info("gRPC TLS files read again", slog.String("cert", r.files.CertFile),
		slog.String("subject", pair.cert.Leaf.Subject.CommonName), slog.Time("not_after", pair.notAfter))
	return pair
}
