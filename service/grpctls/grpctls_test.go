package grpctls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"shop/service/grpctls"
	"shop/service/pki"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func files(id pki.Identity) grpctls.Files { return id.Files() }

// server serves the health service with s's credentials and
// authorization, and records the serial number of each verified client
// certificate it sees.
type server struct {
	addr string
	mu   sync.Mutex
	seen []*big.Int
}

func (s *server) lastClientSerial() *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return nil
	}
	return s.seen[len(s.seen)-1]
}

func serve(t *testing.T, cfg grpctls.Server) *server {
	t.Helper()
	creds, err := grpctls.ServerCredentials(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
				s.mu.Lock()
				s.seen = append(s.seen, info.State.PeerCertificates[0].SerialNumber)
				s.mu.Unlock()
			}
		}
		return h(ctx, req)
	}
	unary := []grpc.UnaryServerInterceptor{record}
	if u, _ := grpctls.Authorizer(cfg, quiet); u != nil {
		unary = append([]grpc.UnaryServerInterceptor{u}, unary...)
	}
	srv := grpc.NewServer(grpc.Creds(creds), grpc.ChainUnaryInterceptor(unary...))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	s.addr = lis.Addr().String()
	return s
}

// check makes one call on a new connection with creds and returns its
// error and the serial number of the server's certificate.
func check(t *testing.T, addr string, creds credentials.TransportCredentials, opts ...grpc.DialOption) (*big.Int, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
		return info.State.PeerCertificates[0].SerialNumber, err
	}
	return nil, err
}

func clientCreds(t *testing.T, c grpctls.Client) credentials.TransportCredentials {
	t.Helper()
	creds, err := grpctls.ClientCredentials(c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func TestServerRefusesCallers(t *testing.T) {
	ids, err := pki.Ensure(t.TempDir(), "gateway", "orders", "payments", "billing")
	if err != nil {
		t.Fatal(err)
	}
	// Two callers: each listed identity is taken, any other refused.
	payments := grpctls.Server{Files: files(ids["payments"]), AllowedClients: []string{"gateway", "billing"}}
	srv := serve(t, payments)

	otherDir := t.TempDir()
	other, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger := pki.Identity{Name: "gateway", Dir: otherDir}
	if err := other.Issue(stranger, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A client that trusts the server's CA but presents no certificate.
	noCert := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: mustPool(t, ids["gateway"].CA())})
	// A gateway certificate of another CA, trusting the right one.
	otherCA := clientCreds(t, grpctls.Client{Files: grpctls.Files{CertFile: stranger.Cert(), KeyFile: stranger.Key(), CAFile: ids["gateway"].CA()}})

	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		code  codes.Code
		msg   string
	}{
		{"Gateway", clientCreds(t, grpctls.Client{Files: files(ids["gateway"])}), codes.OK, ""},
		{"SecondCaller", clientCreds(t, grpctls.Client{Files: files(ids["billing"])}), codes.OK, ""},
		{"ErrOrdersIdentity", clientCreds(t, grpctls.Client{Files: files(ids["orders"])}), codes.PermissionDenied, `client certificate "orders" is not one of the callers`},
		// TLS 1.3: the server's alert may reach the client after its first
		// write, so the message varies.
		{"ErrNoClientCertificate", noCert, codes.Unavailable, ""},
		{"ErrCertificateOfAnotherCA", otherCA, codes.Unavailable, ""},
		{"ErrPlaintext", insecure.NewCredentials(), codes.Unavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(t, srv.addr, tc.creds)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("call: got %v, want code %s with %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestClientVerifiesServer(t *testing.T) {
	ids, err := pki.Ensure(t.TempDir(), "gateway", "payments")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, grpctls.Server{Files: files(ids["payments"]), AllowedClients: []string{"gateway"}})
	_, port, _ := net.SplitHostPort(srv.addr)
	other, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	gw := pki.Identity{Name: "gateway", Dir: t.TempDir()}
	if err := other.Issue(gw, time.Now()); err != nil {
		t.Fatal(err)
	}
	gateway := clientCreds(t, grpctls.Client{Files: files(ids["gateway"])})
	for _, tc := range []struct {
		name, addr, authority string
		creds                 credentials.TransportCredentials
		want                  string // in the error; empty: no error
	}{
		{"OK", srv.addr, "", gateway, ""},
		{"OKLocalhost", "localhost:" + port, "", gateway, ""},
		// The name the server is dialed by, as a list of instances is
		// (static:///payments).
		{"OKServiceName", srv.addr, "payments", gateway, ""},
		{"ErrOtherServiceName", srv.addr, "orders", gateway, "certificate is valid for payments, localhost, not orders"},
		{"ErrServerOfAnotherCA", srv.addr, "", clientCreds(t, grpctls.Client{Files: files(gw)}), "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []grpc.DialOption
			if tc.authority != "" {
				opts = append(opts, grpc.WithAuthority(tc.authority))
			}
			_, err := check(t, tc.addr, tc.creds, opts...)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("call: got %v, want %q", err, tc.want)
			}
		})
	}
}

// paymentsAndGateway makes the certificates of payments and the gateway
// in dir, serves as payments and returns the gateway's credentials.
func paymentsAndGateway(t *testing.T) (string, map[string]pki.Identity, *server, credentials.TransportCredentials) {
	t.Helper()
	dir := t.TempDir()
	ids, err := pki.Ensure(dir, "gateway", "payments")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, grpctls.Server{Files: files(ids["payments"]), AllowedClients: []string{"gateway"}})
	return dir, ids, srv, clientCreds(t, grpctls.Client{Files: files(ids["gateway"])})
}

// TestRotation replaces the server's, then the client's certificate, then
// the CA and every certificate, while the server and the client's
// credentials live on: each new connection uses the files of the moment.
func TestRotation(t *testing.T) {
	dir, ids, srv, client := paymentsAndGateway(t)
	serverSerial, err := check(t, srv.addr, client)
	if err != nil {
		t.Fatal(err)
	}
	clientSerial := srv.lastClientSerial()

	ca := loadCA(t, dir)
	if err := ca.Issue(ids["payments"], time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := check(t, srv.addr, client)
	if err != nil {
		t.Fatalf("after the server's certificate was replaced: %v", err)
	}
	if got.Cmp(serverSerial) == 0 {
		t.Errorf("server certificate serial %v after rotation: still the old one", got)
	}

	if err := ca.Issue(ids["gateway"], time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := check(t, srv.addr, client); err != nil {
		t.Fatalf("after the client's certificate was replaced: %v", err)
	}
	if got := srv.lastClientSerial(); got.Cmp(clientSerial) == 0 {
		t.Errorf("client certificate serial %v after rotation: still the old one", got)
	}

	// A new CA: both sides must read their CA file again to trust each
	// other's new certificates.
	newCA, err := pki.NewCA("the next CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"payments", "gateway"} {
		if err := newCA.Issue(ids[name], time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := check(t, srv.addr, client); err != nil {
		t.Fatalf("after the CA and every certificate were replaced: %v", err)
	}
}

// TestRotationHalfWay keeps the pair read before while the files do not
// match, as when a certificate is replaced before its key.
func TestRotationHalfWay(t *testing.T) {
	dir, ids, srv, client := paymentsAndGateway(t)
	// The key of another certificate over the server's key file.
	spare := pki.Identity{Name: "payments", Dir: t.TempDir()}
	if err := loadCA(t, dir).Issue(spare, time.Now()); err != nil {
		t.Fatal(err)
	}
	copyFile(t, spare.Key(), ids["payments"].Key())
	if _, err := check(t, srv.addr, client); err != nil {
		t.Fatalf("with a mismatched key file: %v, want the pair read before in use", err)
	}
	copyFile(t, spare.Cert(), ids["payments"].Cert())
	if _, err := check(t, srv.addr, client); err != nil {
		t.Fatalf("with the rotation complete: %v", err)
	}
}

// TestPlaintextToo is the middle step of switching TLS on: the server
// takes plaintext callers and TLS ones, authorizing the TLS ones.
func TestPlaintextToo(t *testing.T) {
	ids, err := pki.Ensure(t.TempDir(), "gateway", "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, grpctls.Server{Files: files(ids["payments"]), Insecure: true, AllowedClients: []string{"gateway"}})
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		code  codes.Code
	}{
		{"Plaintext", insecure.NewCredentials(), codes.OK},
		{"Gateway", clientCreds(t, grpctls.Client{Files: files(ids["gateway"])}), codes.OK},
		{"ErrOrdersIdentity", clientCreds(t, grpctls.Client{Files: files(ids["orders"])}), codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := check(t, srv.addr, tc.creds); status.Code(err) != tc.code {
				t.Errorf("call: got %v, want %s", err, tc.code)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	f := grpctls.Files{CertFile: "c", KeyFile: "k", CAFile: "a"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"ServerTLS", grpctls.Server{Files: f, AllowedClients: []string{"gateway"}}.Validate(), ""},
		{"ServerInsecure", grpctls.Server{Insecure: true}.Validate(), ""},
		{"ServerBoth", grpctls.Server{Files: f, Insecure: true, AllowedClients: []string{"gateway"}}.Validate(), ""},
		{"ErrServerNothing", grpctls.Server{AllowedClients: []string{"gateway"}}.Validate(), "needs GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CA_FILE (or GRPC_INSECURE=true"},
		{"ErrServerHalf", grpctls.Server{Files: grpctls.Files{CertFile: "c"}, Insecure: true}.Validate(), "needs GRPC_TLS_KEY_FILE, GRPC_TLS_CA_FILE"},
		{"ErrServerNoClients", grpctls.Server{Files: f}.Validate(), "GRPC_ALLOWED_CLIENTS: empty"},
		{"ErrServerBadClient", grpctls.Server{Files: f, AllowedClients: []string{"CN=gateway"}}.Validate(), `"CN=gateway" is not a client identity`},
		{"ClientTLS", grpctls.Client{Files: f}.Validate(), ""},
		{"ClientInsecure", grpctls.Client{Insecure: true}.Validate(), ""},
		{"ErrClientNothing", grpctls.Client{}.Validate(), "needs GRPC_TLS_CERT_FILE"},
		{"ErrClientBoth", grpctls.Client{Files: f, Insecure: true}.Validate(), "both set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" && tc.err != nil || tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", tc.err, tc.want)
			}
		})
	}
}

func TestCredentialsReadTheFiles(t *testing.T) {
	dir := t.TempDir()
	ids, err := pki.Ensure(dir, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	bad := files(ids["gateway"])
	bad.KeyFile = dir + "/missing.key"
	if _, err := grpctls.ClientCredentials(grpctls.Client{Files: bad}, quiet); err == nil || !strings.Contains(err.Error(), "GRPC_TLS_KEY_FILE") {
		t.Errorf("ClientCredentials with a missing key: %v, want an error naming GRPC_TLS_KEY_FILE", err)
	}
	bad = files(ids["gateway"])
	bad.CAFile = ids["gateway"].Key()
	if _, err := grpctls.ServerCredentials(grpctls.Server{Files: bad, AllowedClients: []string{"x"}}, quiet); err == nil || !strings.Contains(err.Error(), "GRPC_TLS_CA_FILE") {
		t.Errorf("ServerCredentials with a CA file without a certificate: %v, want an error naming GRPC_TLS_CA_FILE", err)
	}
}

func loadCA(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("no CA certificate in " + caFile)
	}
	return pool
}

// copyFile replaces to with the content of from, atomically and with a
// new modification time.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
