package httpapi

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// The fakes below stand in for the orders and payments services so that
// the gateway's HTTP behaviour and error mapping can be tested without a
// database. They follow the services' gRPC contract (proto comments and
// docs/architecture.md), including error reasons and idempotent replay; the
// full-stack tests run the real services.

var fakeNow = time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC)

// injected lets a test make the next calls of a method fail or stall.
type injected struct {
	mu    sync.Mutex
	errs  map[string]error
	delay map[string]time.Duration
	calls map[string]int
}

func (in *injected) before(ctx context.Context, method string) error {
	in.mu.Lock()
	if in.calls == nil {
		in.calls = map[string]int{}
	}
	in.calls[method]++
	err, d := in.errs[method], in.delay[method]
	in.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// fail makes every later call of method return err.
func (in *injected) fail(method string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.errs == nil {
		in.errs = map[string]error{}
	}
	in.errs[method] = err
}

// stall makes every later call of method take d (or until its deadline).
func (in *injected) stall(method string, d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.delay == nil {
		in.delay = map[string]time.Duration{}
	}
	in.delay[method] = d
}

// count is how many calls of method reached the fake.
func (in *injected) count(method string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[method]
}

type storedReply struct {
	request proto.Message
	reply   proto.Message
}

func reasonErr(code codes.Code, msg, reason string) error {
	st := status.New(code, msg)
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "shop"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

type fakePayments struct {
	paymentsv1.UnimplementedPaymentServiceServer
	injected

	mu       sync.Mutex
	accounts map[string]*paymentsv1.Account
	keys     map[string]storedReply
	lastKey  string
}

func newFakePayments() *fakePayments {
	return &fakePayments{accounts: map[string]*paymentsv1.Account{}, keys: map[string]storedReply{}}
}

func (f *fakePayments) CreateAccount(ctx context.Context, req *paymentsv1.CreateAccountRequest) (*paymentsv1.CreateAccountResponse, error) {
	if err := f.before(ctx, "CreateAccount"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.accounts[req.GetUserId()]; ok {
		return nil, reasonErr(codes.AlreadyExists, "account already exists", fault.ReasonAccountExists)
	}
	a := &paymentsv1.Account{UserId: req.GetUserId(), Currency: "RUB", CreatedAt: timestamppb.New(fakeNow), UpdatedAt: timestamppb.New(fakeNow)}
	f.accounts[req.GetUserId()] = a
	return &paymentsv1.CreateAccountResponse{Account: proto.Clone(a).(*paymentsv1.Account)}, nil
}

func (f *fakePayments) GetAccount(ctx context.Context, req *paymentsv1.GetAccountRequest) (*paymentsv1.GetAccountResponse, error) {
	if err := f.before(ctx, "GetAccount"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "account not found")
	}
	return &paymentsv1.GetAccountResponse{Account: proto.Clone(a).(*paymentsv1.Account)}, nil
}

func (f *fakePayments) TopUp(ctx context.Context, req *paymentsv1.TopUpRequest) (*paymentsv1.TopUpResponse, error) {
	if err := f.before(ctx, "TopUp"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastKey = req.GetIdempotencyKey()
	if req.GetAmount() < 1 || req.GetAmount() > 1_000_000_000_000 {
		return nil, status.Error(codes.InvalidArgument, "amount must be between 1 and 1000000000000")
	}
	scoped := req.GetUserId() + "\x00" + req.GetIdempotencyKey()
	if req.GetIdempotencyKey() != "" {
		if s, ok := f.keys[scoped]; ok {
			if !proto.Equal(s.request, req) {
				return nil, reasonErr(codes.FailedPrecondition, "idempotency key was used with a different request", fault.ReasonIdempotencyKeyReused)
			}
			r := proto.Clone(s.reply).(*paymentsv1.TopUpResponse)
			r.Replayed = true
			return r, nil
		}
	}
	a, ok := f.accounts[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "account not found")
	}
	if a.GetBalance() > 1_000_000_000_000_000-req.GetAmount() {
		return nil, reasonErr(codes.FailedPrecondition, "balance would exceed 1000000000000000", fault.ReasonBalanceLimitExceeded)
	}
	a.Balance += req.GetAmount()
	a.UpdatedAt = timestamppb.New(fakeNow.Add(time.Second))
	resp := &paymentsv1.TopUpResponse{Account: proto.Clone(a).(*paymentsv1.Account)}
	if req.GetIdempotencyKey() != "" {
		f.keys[scoped] = storedReply{request: proto.Clone(req), reply: proto.Clone(resp)}
	}
	return resp, nil
}

type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	injected

	mu      sync.Mutex
	orders  []*ordersv1.Order // in creation order
	keys    map[string]storedReply
	lastKey string
	// corrupt, when set, is returned by GetOrder instead of the stored order.
	corrupt *ordersv1.Order
}

func newFakeOrders() *fakeOrders { return &fakeOrders{keys: map[string]storedReply{}} }

func (f *fakeOrders) CreateOrder(ctx context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	if err := f.before(ctx, "CreateOrder"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastKey = req.GetIdempotencyKey()
	if req.GetAmount() < 1 || req.GetAmount() > 1_000_000_000_000 {
		return nil, status.Error(codes.InvalidArgument, "amount must be between 1 and 1000000000000")
	}
	if n := len([]rune(req.GetDescription())); n > 1000 {
		return nil, status.Error(codes.InvalidArgument, "description must be at most 1000 characters")
	}
	scoped := req.GetUserId() + "\x00" + req.GetIdempotencyKey()
	if req.GetIdempotencyKey() != "" {
		if s, ok := f.keys[scoped]; ok {
			if !proto.Equal(s.request, req) {
				return nil, reasonErr(codes.FailedPrecondition, "idempotency key was used with a different request", fault.ReasonIdempotencyKeyReused)
			}
			r := proto.Clone(s.reply).(*ordersv1.CreateOrderResponse)
			r.Replayed = true
			return r, nil
		}
	}
	created := fakeNow.Add(time.Duration(len(f.orders)) * time.Second)
	o := &ordersv1.Order{
		Id: uuid.NewString(), UserId: req.GetUserId(), Amount: req.GetAmount(), Currency: "RUB",
		Description: req.GetDescription(), Status: ordersv1.OrderStatus_ORDER_STATUS_PENDING,
		CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created),
	}
	f.orders = append(f.orders, o)
	resp := &ordersv1.CreateOrderResponse{Order: proto.Clone(o).(*ordersv1.Order)}
	if req.GetIdempotencyKey() != "" {
		f.keys[scoped] = storedReply{request: proto.Clone(req), reply: proto.Clone(resp)}
	}
	return resp, nil
}

// set replaces the stored order with the same id (to move its status).
func (f *fakeOrders) set(o *ordersv1.Order) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.orders {
		if f.orders[i].GetId() == o.GetId() {
			f.orders[i] = o
		}
	}
}

func (f *fakeOrders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	if err := f.before(ctx, "GetOrder"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.corrupt != nil {
		return &ordersv1.GetOrderResponse{Order: f.corrupt}, nil
	}
	if _, err := uuid.Parse(req.GetOrderId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, "order id must be a UUID")
	}
	for _, o := range f.orders {
		if o.GetId() == req.GetOrderId() && o.GetUserId() == req.GetUserId() {
			return &ordersv1.GetOrderResponse{Order: proto.Clone(o).(*ordersv1.Order)}, nil
		}
	}
	return nil, status.Error(codes.NotFound, "order not found")
}

// ListOrders pages newest first; the token is the offset as a decimal.
func (f *fakeOrders) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	if err := f.before(ctx, "ListOrders"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return nil, status.Error(codes.InvalidArgument, "limit must be between 1 and 100")
	}
	offset := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, status.Error(codes.InvalidArgument, "page_token is malformed")
		}
		offset = n
	}
	var mine []*ordersv1.Order
	for _, o := range f.orders {
		if o.GetUserId() == req.GetUserId() {
			mine = append(mine, proto.Clone(o).(*ordersv1.Order))
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].GetCreatedAt().AsTime().After(mine[j].GetCreatedAt().AsTime()) })
	resp := &ordersv1.ListOrdersResponse{}
	if offset < len(mine) {
		end := min(offset+limit, len(mine))
		resp.Orders = mine[offset:end]
		if end < len(mine) {
			resp.NextPageToken = fmt.Sprint(end)
		}
	}
	return resp, nil
}
