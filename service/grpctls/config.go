// Package grpctls is the mutual TLS of the shop's gRPC hops: the settings
// of a gRPC server (orders, payments) and of its client (the gateway), the
// transport credentials that read their certificates from files again when
// the files change (a rotation needs no restart), and the authorization of
// a caller by the CommonName of its client certificate.
//
// A server requires TLS 1.3 and a client certificate signed by its CA
// (GRPC_TLS_CA_FILE), then accepts only the identities of
// GRPC_ALLOWED_CLIENTS. A client presents its certificate and verifies the
// server's against its CA and the host name it dials. GRPC_INSECURE=true
// runs plaintext, explicitly; without it the files are required. See
// docs/security.md, "gRPC: mutual TLS".
package grpctls

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
)

// Files are the PEM files of a program's identity and of the CA it trusts,
// named like the keys of a cert-manager Secret when mounted (tls.crt,
// tls.key, ca.crt).
type Files struct {
	// CertFile is the program's certificate (chain); its Subject
	// CommonName is the program's identity.
	CertFile string `env:"GRPC_TLS_CERT_FILE"`
	// KeyFile is the certificate's private key.
	KeyFile string `env:"GRPC_TLS_KEY_FILE"`
	// CAFile holds the CA certificates the peer's certificate must chain
	// to: on a server, the CA of its clients; on a client, the CA of its
	// servers.
	CAFile string `env:"GRPC_TLS_CA_FILE"`
}

// set reports whether any file is named.
func (f Files) set() bool { return f.CertFile != "" || f.KeyFile != "" || f.CAFile != "" }

// validate checks that all three files are named.
func (f Files) validate() error {
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"GRPC_TLS_CERT_FILE", f.CertFile}, {"GRPC_TLS_KEY_FILE", f.KeyFile}, {"GRPC_TLS_CA_FILE", f.CAFile},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("gRPC mutual TLS needs %s (or GRPC_INSECURE=true to run plaintext, explicitly)", strings.Join(missing, ", "))
	}
	return nil
}

// Client is how a program dials the shop's gRPC services: with its
// certificate (Files), or in plaintext when Insecure.
type Client struct {
	Files
	// Insecure dials in plaintext, with no certificate: only for a rolling
	// upgrade from a release without TLS and for tests.
	Insecure bool `env:"GRPC_INSECURE, default=false"`
}

// Validate checks that the files are named, or Insecure set without them.
func (c Client) Validate() error {
	if c.Insecure {
		if c.set() {
			return errors.New("GRPC_INSECURE=true and GRPC_TLS_* files are both set: a client dials either in plaintext or with TLS; unset one")
		}
		return nil
	}
	return c.validate()
}

// Server is how a gRPC service of the shop accepts calls.
type Server struct {
	Files
	// Insecure accepts plaintext calls. With the files also set, the
	// server accepts both plaintext and mutual TLS on its one port (the
	// middle step of switching TLS on in a rolling upgrade,
	// docs/upgrades.md); a TLS caller is then authorized as always, a
	// plaintext one is not authenticated.
	Insecure bool `env:"GRPC_INSECURE, default=false"`
	// AllowedClients are the identities (client certificate CommonNames)
	// whose calls the server takes; any other verified certificate is
	// refused with PermissionDenied.
	AllowedClients []string `env:"GRPC_ALLOWED_CLIENTS, default=gateway"`
	// Reflection registers the gRPC reflection service, which lists every
	// method to whoever may call: off unless turned on.
	Reflection bool `env:"GRPC_REFLECTION, default=false"`
}

// identity is what a client identity looks like: a program name.
var identity = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks that the files are named unless Insecure, and that the
// allowed clients are names.
func (s Server) Validate() error {
	var errs []error
	if !s.Insecure {
		errs = append(errs, s.validate())
	} else if s.set() {
		errs = append(errs, s.validate())
	}
	if len(s.AllowedClients) == 0 && !s.Insecure {
		errs = append(errs, errors.New("GRPC_ALLOWED_CLIENTS: empty: no caller could call"))
	}
	for _, c := range s.AllowedClients {
		if !identity.MatchString(c) {
			errs = append(errs, fmt.Errorf("GRPC_ALLOWED_CLIENTS: %q is not a client identity (a certificate CommonName such as gateway)", c))
		}
	}
	return errors.Join(errs...)
}

// TLS reports whether the server takes TLS calls (the files are set).
func (s Server) TLS() bool { return s.set() }

// allowed reports whether the identity may call.
func (s Server) allowed(id string) bool { return slices.Contains(s.AllowedClients, id) }

// Mode names how the server takes calls: "mutual TLS", "plaintext", or
// both during a rolling switch.
func (s Server) Mode() string {
	switch {
	case s.TLS() && s.Insecure:
		return "mutual TLS and plaintext"
	case s.TLS():
		return "mutual TLS"
	}
	return "plaintext"
}

// LogAttrs renders s for a service's configuration log line.
func (s Server) LogAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("grpc_security", s.Mode()),
		slog.String("grpc_tls_cert_file", s.CertFile),
		slog.String("grpc_allowed_clients", strings.Join(s.AllowedClients, ",")),
		slog.Bool("grpc_reflection", s.Reflection),
	}
}
