#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv with the pinned AWS
# emulator (moto) and validators, starts the emulator and the fake Kubernetes
# API server on free loopback ports, runs the Python tests of that test
# infrastructure and every Rust test against it, then stops the servers.
#
#   scripts/test.sh              # everything
#   scripts/test.sh e2e_network  # extra arguments go to `cargo test`
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_servers EXIT

ensure_venv
find_keda_manifest
log "testing the test infrastructure (tests/emulator, tests/fakekube, tests/fakehelm, tests/samples)"
for suite in tests/emulator tests/fakekube tests/fakehelm tests/samples; do
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$suite"
done

start_emulator
start_fakekube
export EKSSCALE_TEST_PYTHON="$VENV/bin/python"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# The end-to-end tests mostly wait (simulated AWS and Kubernetes delays):
# four at a time on two cores takes 4.5 minutes instead of 8.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
log "running the Rust tests"
# The library's unit tests and the one end-to-end binary (the binary target
# itself has no tests: building its test harness would link the SDK again).
cargo test --locked "$@"
log "all tests passed"
