package httpapi

import "sync"

// streamSlots counts the open streams of the process and of each
// identity. A process holds at most max streams: one more is refused (the
// gateway answers 503 with Retry-After, so that a client or a load
// balancer goes to another instance, rather than end a stranger's
// stream). An identity holds at most perUser: one more evicts that
// identity's oldest stream (it ends cleanly, and its client reconnects
// with Last-Event-ID), so that streams a client lost without knowing (a
// phone that changed networks) never lock the user out. It is safe for
// concurrent use.
type streamSlots struct {
	max, perUser int

	mu    sync.Mutex // guards the fields below
	total int
	open  map[string][]*streamSlot // oldest first
}

// streamSlot is one open stream's slot.
type streamSlot struct {
	// evict ends the stream; called at most once, without the lock held.
	evict func()
	// gone is set once the slot no longer counts (released or evicted).
	gone bool
}

func newStreamSlots(max, perUser int) *streamSlots {
	return &streamSlots{max: max, perUser: perUser, open: map[string][]*streamSlot{}}
}

// acquire takes a slot of user for a stream that evict ends, and returns
// its release (safe to call more than once, also after an eviction). When
// user holds perUser slots already, the oldest is evicted: its slot is
// taken over at once and its evict called. ok is false when the process
// holds max slots (and user none to give up).
func (s *streamSlots) acquire(user string, evict func()) (release func(), evicted bool, ok bool) {
	var victim *streamSlot
	s.mu.Lock()
	mine := s.open[user]
	switch {
	case len(mine) >= s.perUser:
		victim = mine[0]
		victim.gone = true
		mine = mine[1:]
	case s.total >= s.max:
		s.mu.Unlock()
		return nil, false, false
	default:
		s.total++
	}
	slot := &streamSlot{evict: evict}
	s.open[user] = append(mine, slot)
	s.mu.Unlock()
	if victim != nil {
		victim.evict()
	}
	return func() { s.release(user, slot) }, victim != nil, true
}

// release frees slot of user, unless it is gone already.
func (s *streamSlots) release(user string, slot *streamSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot.gone {
		return
	}
	slot.gone = true
	s.total--
	mine := s.open[user]
	for i, o := range mine {
		if o == slot {
			mine = append(mine[:i:i], mine[i+1:]...)
			break
		}
	}
	if len(mine) == 0 {
		delete(s.open, user)
	} else {
		s.open[user] = mine
	}
}
