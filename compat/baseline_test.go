package compat

import "testing"

func TestParseBaseline(t *testing.T) {
	tests := []struct {
		name, text, want string
		wantErr          bool
	}{
		{name: "OK", text: "24e6b37\n", want: "24e6b37"},
		{name: "OKAfterComments", text: "# the release\n\n#  moves when one is cut\n24e6b37\n", want: "24e6b37"},
		{name: "OKFullHash", text: "24e6b37aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", want: "24e6b37aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{name: "OKSpaceAround", text: "  24e6b37 \r\n", want: "24e6b37"},
		{name: "OKFirstLineWins", text: "24e6b37\nabcdef0\n", want: "24e6b37"},
		{name: "ErrEmpty", text: "", wantErr: true},
		{name: "ErrOnlyComments", text: "# nothing here\n\n", wantErr: true},
		{name: "ErrBranchName", text: "main\n", wantErr: true},
		{name: "ErrTooShort", text: "24e6b3\n", wantErr: true},
		{name: "ErrUpperCase", text: "24E6B37\n", wantErr: true},
		{name: "ErrTrailingWord", text: "24e6b37 release\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBaseline(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseBaseline(%q) error %v, want error %v", tt.text, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseBaseline(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}
