#!/usr/bin/env bash
# The main job, end to end, on this machine: starts the local AWS emulator and
# the fake Kubernetes API server, then runs `eksscale init`, `plan --timeline`,
# `cost`, `up` (network, IAM, EKS, then KEDA and the samples), `status`, `up`
# again (a no-op), `samples`, `samples load`, `list`, `render`, `policy`, and
# `down`, exactly as against AWS. Takes about a minute after the first build.
#
# With real AWS credentials, skip this script: `eksscale init` and `eksscale up`
# (no --kubeconfig: eksscale reaches the new cluster's endpoint itself).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_servers EXIT

ensure_venv --main-only
log "building eksscale (the first build compiles the AWS SDK: about 17 minutes on 2 cores)"
cargo build --quiet --locked
BIN="$ROOT/target/debug/eksscale"

# Make the emulated EKS take a few seconds, so the progress display has something to show.
export EMULATOR_EKS_CLUSTER_CREATE_SECONDS=${EMULATOR_EKS_CLUSTER_CREATE_SECONDS:-4}
export EMULATOR_EKS_NODEGROUP_CREATE_SECONDS=${EMULATOR_EKS_NODEGROUP_CREATE_SECONDS:-3}
start_emulator
start_fakekube --ready-after 1

WORK="$RUN_DIR/demo"
mkdir -p "$WORK"
cd "$WORK"
export HOME="$WORK"   # the kubeconfig entry `up` writes lands here, not in your ~/.kube
write_fake_kubeconfig fake.kubeconfig
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$BIN" init --name demo --region us-west-2
# Offline here: use the KEDA release manifest shipped beside the project.
if find_keda_manifest 2>/dev/null; then
  sed -i "s#    manifest: null #    manifest: $EKSSCALE_KEDA_MANIFEST #" eksscale.yaml
fi
step "$BIN" plan --timeline
step "$BIN" cost
step "$BIN" up --kubeconfig fake.kubeconfig
step "$BIN" status
step "$BIN" up --kubeconfig fake.kubeconfig
step "$BIN" samples
# Nothing consumes in the emulators: the messages stay in the queue.
step "$BIN" samples load sqs-consumer --messages 20
step "$BIN" list
step "$BIN" render --out manifests
step "$BIN" policy --role keda-operator
step "$BIN" down --yes --kubeconfig fake.kubeconfig
step "$BIN" status
printf '\nDemo finished: everything created was deleted again.\n'
