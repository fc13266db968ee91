#!/usr/bin/env bash
# Benchmarks against the local emulators; prints numbers, asserts nothing.
# Recorded in docs/benchmarks.md. Measures wall time and AWS calls (read and
# mutating, from eksscale's own JSON summary) for a cold `up` (3 zones, NAT
# per zone, one node group per zone, KEDA on the fake Kubernetes API), a no-op
# `up` (no Kubernetes write), `plan`, and `down`; the latency of `eksscale --help`; and prints the
# modelled time-to-ready of a real AWS run (`plan --timeline`).
# EMULATOR_THROTTLE_RATE=0.1 scripts/bench.sh: the same with 10% of AWS
# requests throttled or answered 5xx (the emulator's rule 8).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_servers EXIT
ensure_venv --main-only
cargo build --quiet --locked
BIN="$ROOT/target/debug/eksscale"
find_keda_manifest
start_emulator
start_fakekube --ready-after 0.2

WORK="$RUN_DIR/bench"
mkdir -p "$WORK"
cd "$WORK"
export HOME="$WORK" CI=1
write_fake_kubeconfig fake.kubeconfig
config() { # name, keda enabled (true|false)
  cat > eksscale.yaml <<CFG
apiVersion: eksscale.io/v1alpha1
kind: Cluster
metadata: {name: $1, region: us-west-2}
spec:
  vpc: {zones: 3, natGateway: perZone}
  nodeGroups: [{name: general, perZone: true}]
  keda: {enabled: $2, manifest: $EKSSCALE_KEDA_MANIFEST}
  samples: $( [ "$2" = true ] && echo '[sqs-consumer]' || echo '[]' )
CFG
}

ms() { date +%s%3N; }
row() { # label, command...
  local label=$1; shift
  local t0 t1 summary
  t0=$(ms)
  summary=$("$@" -o json 2>/dev/null | tail -n 1)
  t1=$(ms)
  printf '%-36s %7s ms   %s\n' "$label" "$((t1 - t0))" \
    "$("$VENV/bin/python" -c '
import json, sys
s = json.loads(sys.argv[1])
c = s["aws_calls"]
out = "AWS: %d read, %d mutating" % (c["read"], c["mutating"])
k = s.get("kube_calls")
if k and (k["read"] or k["write"]):
    out += "; Kubernetes: %d read, %d write" % (k["read"], k["write"])
print(out)' "$summary")"
}

echo "eksscale benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores, debug build, local emulators)"
echo "3 zones, NAT per zone, one node group per zone"
echo "emulator: AWS rules ${EMULATOR_AWS_RULES:-1} (1 = on), ${EMULATOR_THROTTLE_RATE:-0} of requests throttled or 5xx (EMULATOR_THROTTLE_RATE)"
# Not measured: moto loads the AWS managed IAM policies on its first IAM call.
"$BIN" status --name warmup --region us-west-2 >/dev/null 2>&1
config bench-aws false
row "cold up (AWS only)" "$BIN" up
row "no-op up (AWS only)" "$BIN" up
row "plan" "$BIN" plan
row "down" "$BIN" down --yes
config bench-keda true
row "cold up (+ KEDA, sample)" "$BIN" up --kubeconfig fake.kubeconfig
row "no-op up (+ KEDA, sample)" "$BIN" up --kubeconfig fake.kubeconfig
row "plan (+ Kubernetes diff)" "$BIN" plan --kubeconfig fake.kubeconfig
row "down (+ KEDA, sample)" "$BIN" down --yes --kubeconfig fake.kubeconfig

runs=()
for _ in $(seq 1 21); do
  t0=$(date +%s%N); "$BIN" --help >/dev/null; t1=$(date +%s%N)
  runs+=($(( (t1 - t0) / 1000 )))
done
median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 11p)
printf '%-34s %7s us   (median of 21 runs)\n' "eksscale --help" "$median"

echo
echo "Modelled time-to-ready on AWS for this config (cold):"
"$BIN" plan --timeline 2>/dev/null | sed -n '/Modelled/,$p'
