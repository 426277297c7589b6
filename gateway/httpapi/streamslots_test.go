package httpapi

import "testing"

func TestStreamSlots(t *testing.T) {
	s := &streamSlots{max: 2, open: map[string]int{}}
	r1, ok1 := s.acquire("alice")
	_, ok2 := s.acquire("alice")
	_, ok3 := s.acquire("alice")
	_, okBob := s.acquire("bob")
	if !ok1 || !ok2 || ok3 || !okBob {
		t.Fatalf("acquire: got %v %v %v (bob %v), want true true false (bob true)", ok1, ok2, ok3, okBob)
	}
	r1()
	r1() // a second release frees nothing more
	if _, ok := s.acquire("alice"); !ok {
		t.Error("no slot after a release")
	}
	if _, ok := s.acquire("alice"); ok {
		t.Error("a double release freed two slots")
	}
}
