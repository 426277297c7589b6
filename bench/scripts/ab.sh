#!/usr/bin/env bash
# ab.sh REV_A REV_B [ROUNDS]: make bench's figures for two commits, back to
# back, alternating (A B, B A, ...) so that a drift of the machine hits both
# alike. Each run starts a fresh stack from a git worktree of its commit
# (`stack run`, AUTH_MODE=header, no rate limit, its own data directory), waits for it, lets
# it settle 10 s, and drives it with this checkout's loadgen (so both are
# measured the same way); then stops it. No other stack may be running.
#
#   bench/scripts/ab.sh 3175f35 HEAD            # 2 rounds = 4 runs, ~20 min
#   ROUNDS=3 AB_FLAGS='-quick -rates 200,500 -ceiling=false' bench/scripts/ab.sh main my-branch
#
# Results: bench/results/ab-<time>/ (each run's JSON and output, and
# summary.txt with the RESULT lines and the CPU tables).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
rounds=${3:-${ROUNDS:-2}}
flags=${AB_FLAGS:--rates 200,500 -ceiling=false -duration 30s -warmup 20s -rest 20s -accounts 200}
gateway=http://127.0.0.1:8080
if curl -fsS -m 2 "$gateway/readyz" >/dev/null 2>&1; then
	echo "ab: a gateway answers at $gateway; stop that stack first (each run starts its own)" >&2
	exit 1
fi
root=$PWD
out=bench/results/ab-$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d)
chmod 755 "$work" # Postgres runs as the postgres user when we are root
mkdir -p "$out"
declare -A dir
for rev in "$1" "$2"; do
	dir[$rev]=$work/$(git rev-parse --short "$rev")
	git worktree add -f --detach "${dir[$rev]}" "$rev" >/dev/null
done
cleanup() {
	for rev in "$1" "$2"; do git worktree remove -f "${dir[$rev]}" 2>/dev/null || true; done
	rm -rf "$work"
}
trap 'cleanup "$1" "$2"' EXIT

run() { # rev round
	local rev=$1 round=$2 name pid
	name=$(git rev-parse --short "$rev")
	echo "ab: round $round/$rounds, $rev ($name) at $(date -u +%H:%M:%S)" >&2
	(cd "${dir[$rev]}" && go build -o .bin/stack ./stack/cmd/stack)
	(cd "${dir[$rev]}" && AUTH_MODE=header GATEWAY_RATE_LIMIT=0 AUDIT_INTERVAL=24h STACK_DATA_DIR="$work/data-$name" exec .bin/stack run >"$root/$out/stack-$round-$name.log" 2>&1) &
	pid=$!
	for _ in $(seq 180); do curl -fsS -m 2 "$gateway/readyz" >/dev/null 2>&1 && break; sleep 1; done
	sleep 10
	# shellcheck disable=SC2086 # flags are words
	go run ./bench/cmd/loadgen $flags -out "$out/run-$round-$name.json" >"$out/run-$round-$name.txt" 2>"$out/run-$round-$name.log" || true
	{
		printf 'round=%d rev=%s %s\n' "$round" "$name" "$(grep RESULT "$out/run-$round-$name.txt" || echo 'no RESULT')"
		grep -A4 '^  window' "$out/run-$round-$name.txt" | sed "s/^/  /" || true
	} | tee -a "$out/summary.txt"
	kill -INT "$pid"
	wait "$pid" || true
	rm -rf "$work/data-$name"
}
for i in $(seq 1 "$rounds"); do
	if ((i % 2 == 1)); then run "$1" "$i"; run "$2" "$i"; else run "$2" "$i"; run "$1" "$i"; fi
done
echo "ab: RESULT lines and CPU tables in $out/summary.txt" >&2
