#!/usr/bin/env bash
# The main job, end to end, on this machine: starts the local AWS emulator,
# then runs `eksscale init`, `plan`, `up`, `status`, `up` again (a no-op),
# and `down`, exactly as you would against AWS. Takes about a minute after
# the first build.
#
# With real AWS credentials, skip this script and run `eksscale up` directly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_servers EXIT

ensure_venv
log "building eksscale"
cargo build --quiet --locked
BIN="$ROOT/target/debug/eksscale"

# Make the emulated EKS take a few seconds, so the progress display has something to show.
export EMULATOR_EKS_CLUSTER_CREATE_SECONDS=${EMULATOR_EKS_CLUSTER_CREATE_SECONDS:-4}
export EMULATOR_EKS_NODEGROUP_CREATE_SECONDS=${EMULATOR_EKS_NODEGROUP_CREATE_SECONDS:-3}
start_emulator

WORK="$RUN_DIR/demo"
mkdir -p "$WORK"
cd "$WORK"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$BIN" init --name demo --region us-west-2
step "$BIN" plan
step "$BIN" up
step "$BIN" status
step "$BIN" up
step "$BIN" down --yes
step "$BIN" status
printf '\nDemo finished: everything created was deleted again.\n'
