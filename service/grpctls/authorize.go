package grpctls

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Authorizer returns the interceptors that let a call through only from
// a caller s accepts: a client certificate verified in the handshake whose
// CommonName is in s.AllowedClients (otherwise PermissionDenied), or, only
// while s.Insecure, a plaintext caller. A TLS-only server refuses a call
// with no verified certificate with Unauthenticated (the handshake
// already refuses a connection without one). A refusal is logged as a
// warning. It returns nil interceptors for a plaintext-only server, which
// authenticates no one.
func Authorizer(s Server, logger *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	if !s.TLS() {
		return nil, nil
	}
	check := func(ctx context.Context, method string) error {
		err := s.authorize(ctx)
		if err != nil {
			p, _ := peer.FromContext(ctx)
			var addr string
			if p != nil && p.Addr != nil {
				addr = p.Addr.String()
			}
			logger.WarnContext(ctx, "gRPC call refused", slog.String("method", method),
				slog.String("peer", addr), slog.String("reason", status.Convert(err).Message()))
		}
		return err
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
	return unary, stream
}

// authorize returns nil when the caller of ctx may call, or the status
// error of its refusal.
func (s Server) authorize(ctx context.Context) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no peer: cannot identify the caller")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		if s.Insecure {
			return nil // the plaintext half of a rolling switch to TLS
		}
		return status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	chains := info.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	id := chains[0][0].Subject.CommonName
	if !s.allowed(id) {
		return status.Errorf(codes.PermissionDenied, "client certificate %q is not one of the callers this service accepts (GRPC_ALLOWED_CLIENTS)", id)
	}
	return nil
}
