package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/payments"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// CreateAccount opens the caller's account.
func (s *Server) CreateAccount(ctx context.Context, req *paymentsv1.CreateAccountRequest) (*paymentsv1.CreateAccountResponse, error) {
	a, err := s.store.CreateAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "CreateAccount", err)
	}
	return &paymentsv1.CreateAccountResponse{Account: accountToProto(a)}, nil
}

// GetAccount returns the caller's account.
func (s *Server) GetAccount(ctx context.Context, req *paymentsv1.GetAccountRequest) (*paymentsv1.GetAccountResponse, error) {
	a, err := s.store.GetAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "GetAccount", err)
	}
	return &paymentsv1.GetAccountResponse{Account: accountToProto(a)}, nil
}

// TopUp credits the caller's account.
func (s *Server) TopUp(ctx context.Context, req *paymentsv1.TopUpRequest) (*paymentsv1.TopUpResponse, error) {
	r, err := s.store.TopUp(ctx, req.GetUserId(), req.GetAmount(), req.GetIdempotencyKey())
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "TopUp", err)
	}
	return &paymentsv1.TopUpResponse{Account: accountToProto(r.Account), Replayed: r.Replayed}, nil
}

func accountToProto(a payments.Account) *paymentsv1.Account {
	return &paymentsv1.Account{
		UserId:    a.UserID,
		Balance:   a.Balance,
		Currency:  a.Currency,
		CreatedAt: timestamppb.New(a.CreatedAt),
		UpdatedAt: timestamppb.New(a.UpdatedAt),
	}
}
