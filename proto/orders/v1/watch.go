package ordersv1

// HeaderChangeSeq is the response header (gRPC metadata) of WatchOrders in
// which the server says after which change number the stream starts: the
// request's after, clamped to the user's latest change, or the latest
// change when after is absent or too far behind (HeaderChangeReset). A client that calls again with it as after
// misses nothing even when no change arrived on the first stream.
const HeaderChangeSeq = "change-seq"

// HeaderChangeReset is the response header (gRPC metadata) of WatchOrders,
// "true" when the request's after was too far behind to resume from: 0, or
// older than the change log keeps (a week). The stream then starts after
// the user's latest change (HeaderChangeSeq) without the changes in
// between: the client reads the current state of the orders instead.
const HeaderChangeReset = "change-reset"
