#!/usr/bin/env bash
# What telemetry costs: make bench's figures at 200/s and 500/s with
# SHOP_TELEMETRY=true (the default) and false, alternating (on off, off on,
# ...) so that a drift of the machine hits both alike. Each run is a fresh
# stack that loadgen starts, so no gateway may be running. Results:
# bench/results/telemetry-ab-<time>/ (the RESULT lines in summary.txt).
#
#   make bench-telemetry                      # 2 rounds = 4 runs, ~20 min
#   ROUNDS=3 AB_FLAGS='-quick -rates 200,500 -ceiling=false' make bench-telemetry
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
flags=${AB_FLAGS:--rates 200,500 -ceiling=false -duration 30s -warmup 20s -rest 20s -accounts 200}
if curl -fsS -m 2 "${GATEWAY_URL:-http://127.0.0.1:8080}/readyz" >/dev/null 2>&1; then
	echo "telemetry-ab: a gateway answers at ${GATEWAY_URL:-http://127.0.0.1:8080}; stop that stack first (each run starts its own)" >&2
	exit 1
fi
out=bench/results/telemetry-ab-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
for i in $(seq 1 "$rounds"); do
	order="true false"
	if ((i % 2 == 0)); then order="false true"; fi
	for t in $order; do
		echo "telemetry-ab: round $i/$rounds, SHOP_TELEMETRY=$t ($(date -u +%H:%M:%S))" >&2
		# shellcheck disable=SC2086 # flags are words
		SHOP_TELEMETRY=$t go run ./bench/cmd/loadgen $flags -out "$out/run-$i-$t.json" >"$out/run-$i-$t.txt"
		printf 'round=%d telemetry=%s %s\n' "$i" "$t" "$(tail -n 1 "$out/run-$i-$t.txt")" | tee -a "$out/summary.txt"
	done
done
echo "telemetry-ab: tables in $out/run-*.txt, RESULT lines in $out/summary.txt" >&2
