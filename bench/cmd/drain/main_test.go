package main

import "testing"

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"-root", "/r"}, false},
		{[]string{"-root", "/r", "-rows", "0"}, true},
		{[]string{"-root", "/r", "-per-tx", "0"}, true},
		{[]string{"-root", "/r", "-rounds", "-1"}, true},
		{[]string{"-root", "/r", "-nope"}, true},
	} {
		c, err := parseFlags(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseFlags(%v) error = %v, want error %v", tc.args, err, tc.wantErr)
		}
		if err == nil && (c.rows != 200_000 || c.root != "/r") {
			t.Errorf("parseFlags(%v) = %+v", tc.args, c)
		}
	}
}
