package httpapi

import "sync"

// streamSlots counts the open streams of each identity.
type streamSlots struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

// acquire takes a slot of user, if one is free, and returns its release.
func (s *streamSlots) acquire(user string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user] >= s.max {
		return nil, false
	}
	s.open[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[user]--; s.open[user] == 0 {
				delete(s.open, user)
			}
		})
	}, true
}
