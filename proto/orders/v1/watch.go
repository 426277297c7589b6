package ordersv1

// HeaderChangeSeq is the response header (gRPC metadata) of WatchOrders in
// which the server says after which change number the stream starts: the
// request's after, clamped to the user's latest change, or the latest
// change when after is absent. A client that calls again with it as after
// misses nothing even when no change arrived on the first stream.
const HeaderChangeSeq = "change-seq"
