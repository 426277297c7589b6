package ceiling

import "testing"

const pgbench15 = `transaction type: /tmp/x/create_order.sql
scaling factor: 1
query mode: prepared
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 41234
number of failed transactions: 0 (0.000%)
latency average = 1.940 ms
initial connection time = 6.101 ms
tps = 2061.712345 (without initial connection time)
`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    Run
		wantErr bool
	}{
		{"OK", pgbench15, Run{TPS: 2061.712345, LatencyAvgMS: 1.94, Transactions: 41234}, false},
		{"OnlyTPS", "tps = 12.5 (without initial connection time)\n", Run{TPS: 12.5}, false},
		{"ErrNoTPS", "pgbench: error: connection refused\n", Run{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}
