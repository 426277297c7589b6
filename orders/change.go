package orders

// Change is one change of one order (its creation, its payment or its
// cancellation): the order as the change left it, and Seq, the user's
// change number. The change numbers of one user start at 1 and increase by
// one with each change, in the order the changes commit.
type Change struct {
	Seq   int64
	Order Order
}
