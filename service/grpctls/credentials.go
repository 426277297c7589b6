package grpctls

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ClientCredentials returns the transport credentials of the client c:
// plaintext when c.Insecure; otherwise mutual TLS 1.3, presenting c's
// certificate and verifying the server's against c's CA and the host name
// dialed (the host of host:port, or the name of a dns:/// target). The
// files are read now, an error being the program's reason not to start,
// and again by a later handshake when one has changed.
func ClientCredentials(c Client, logger *slog.Logger) (credentials.TransportCredentials, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Insecure {
		return insecure.NewCredentials(), nil
	}
	r, err := newReloader(c.Files, logger)
	if err != nil {
		return nil, err
	}
	return &reloading{files: r}, nil
}

// ServerCredentials returns the transport credentials of the server s:
// plaintext when s.Insecure without files; mutual TLS 1.3 requiring a
// client certificate signed by s's CA; with s.Insecure and the files, both
// on one port (a connection that starts with a TLS handshake gets TLS).
// The files are read now and again by a later handshake when one has
// changed. Authorization (the allowed identities) is Authorizer's.
func ServerCredentials(s Server, logger *slog.Logger) (credentials.TransportCredentials, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if !s.TLS() {
		return insecure.NewCredentials(), nil
	}
	r, err := newReloader(s.Files, logger)
	if err != nil {
		return nil, err
	}
	return &reloading{files: r, plaintextToo: s.Insecure}, nil
}

// reloading is TLS credentials whose every handshake uses the files'
// current key pair. It is safe for concurrent use.
type reloading struct {
	files *reloader
	// plaintextToo accepts a connection that does not start with a TLS
	// handshake in plaintext (server side).
	plaintextToo bool
}

func (c *reloading) clientConfig() *tls.Config {
	p := c.files.current()
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{p.cert}, RootCAs: p.pool}
}

func (c *reloading) serverConfig() *tls.Config {
	p := c.files.current()
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{p.cert}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert}
}

// ClientHandshake does the TLS handshake of gRPC's own TLS credentials
// (ALPN h2, the server name from the authority) with the current files.
func (c *reloading) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.clientConfig()).ClientHandshake(ctx, authority, conn)
}

// ServerHandshake does gRPC's TLS server handshake with the current files,
// or, with plaintextToo and a connection whose first byte is not a TLS
// handshake record, none.
func (c *reloading) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.plaintextToo {
		pc := &peekedConn{Conn: conn, r: bufio.NewReader(conn)}
		first, err := pc.r.Peek(1)
		if err != nil {
			return nil, nil, err
		}
		conn = pc
		if first[0] != tlsHandshakeRecord {
			// Visible, so that the last step of a switch to TLS can check
			// that no caller is left in plaintext.
			c.files.logger.Info("gRPC connection in plaintext (GRPC_INSECURE=true)", slog.String("peer", conn.RemoteAddr().String()))
			return insecure.NewCredentials().ServerHandshake(conn)
		}
	}
	return credentials.NewTLS(c.serverConfig()).ServerHandshake(conn)
}

// tlsHandshakeRecord is the first byte of a TLS connection (the record type
// of a ClientHello); an HTTP/2 connection in plaintext starts with "PRI".
const tlsHandshakeRecord = 0x16

// peekedConn is a connection whose first bytes were read ahead by r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// Info is that of gRPC's TLS credentials.
func (c *reloading) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

// Clone returns credentials sharing c's files.
func (c *reloading) Clone() credentials.TransportCredentials {
	clone := *c
	return &clone
}

// OverrideServerName is not supported: the server name is the host dialed.
//
// Deprecated: as in grpc-go.
func (c *reloading) OverrideServerName(string) error { return nil }
