package systemtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/grpctls"
	"shop/service/pki"
	"shop/stack/local"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestGRPCMutualTLS calls the running services directly, as an attacker
// inside the perimeter would: only the gateway's certificate gets a call
// through (the services' default GRPC_ALLOWED_CLIENTS). Without a
// certificate, with another service's, with one of the shop's CA for
// shopctl (which makes no gRPC call and is no caller), or with one of
// another CA, the call is refused, and the top-up
// of someone else's account that a plaintext caller could make before
// does not happen.
func TestGRPCMutualTLS(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	caPEM, err := os.ReadFile(s.PKI[local.NameGateway].CA())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	other, err := pki.NewCA("an attacker's CA")
	if err != nil {
		t.Fatal(err)
	}
	forged := pki.Identity{Name: local.NameGateway, Dir: t.TempDir()}
	if err := other.Issue(forged, time.Now()); err != nil {
		t.Fatal(err)
	}
	creds := func(f grpctls.Files) credentials.TransportCredentials {
		c, err := grpctls.ClientCredentials(grpctls.Client{Files: f}, stacktest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A forged gateway certificate, trusting the shop's CA.
	forgedFiles := forged.Files()
	forgedFiles.CAFile = s.PKI[local.NameGateway].CA()
	// A shopctl certificate of the shop's own CA (the CA Start keeps beside
	// the identities it made).
	shopctl, err := pki.Ensure(filepath.Dir(s.PKI[local.NameGateway].Dir), "shopctl")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		code  codes.Code
	}{
		{"Gateway", creds(s.GRPCFiles(local.NameGateway)), codes.OK},
		{"ErrShopctlIsNoCaller", creds(shopctl["shopctl"].Files()), codes.PermissionDenied},
		{"ErrOrdersCallsPayments", creds(s.GRPCFiles(local.Orders)), codes.PermissionDenied},
		{"ErrNoClientCertificate", credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}), codes.Unavailable},
		{"ErrCertificateOfAnotherCA", creds(forgedFiles), codes.Unavailable},
		{"ErrPlaintext", insecure.NewCredentials(), codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(s.PaymentsAddr, grpc.WithTransportCredentials(tc.creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			user := stacktest.Unique("mtls-")
			_, err = paymentsv1.NewPaymentServiceClient(conn).CreateAccount(ctx, &paymentsv1.CreateAccountRequest{UserId: user})
			if status.Code(err) != tc.code {
				t.Fatalf("payments CreateAccount: %v, want %s", err, tc.code)
			}
			_, err = paymentsv1.NewPaymentServiceClient(conn).TopUp(ctx, &paymentsv1.TopUpRequest{UserId: user, Amount: 1_000_000})
			if status.Code(err) != tc.code {
				t.Errorf("payments TopUp: %v, want %s", err, tc.code)
			}
			if tc.code != codes.OK {
				if n := stacktest.Count(t, s.PaymentsDB.Pool, "SELECT count(*) FROM accounts WHERE user_id = $1", user); n != 0 {
					t.Errorf("%d accounts of %s after refused calls, want 0", n, user)
				}
			}
		})
	}

	// Orders takes the same callers: the payments certificate is refused.
	conn, err := grpc.NewClient(s.OrdersAddr, grpc.WithTransportCredentials(creds(s.GRPCFiles(local.Payments))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = ordersv1.NewOrderServiceClient(conn).ListOrders(ctx, &ordersv1.ListOrdersRequest{UserId: "alice"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("orders ListOrders with the payments certificate: %v, want PermissionDenied", err)
	}
	_, err = ordersv1.NewOrderServiceClient(s.Dial(t, s.OrdersAddr, local.NameGateway)).ListOrders(ctx, &ordersv1.ListOrdersRequest{UserId: "alice"})
	if err != nil {
		t.Errorf("orders ListOrders with the gateway certificate: %v", err)
	}
}
