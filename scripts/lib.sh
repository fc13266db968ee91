# Shared by scripts/test.sh, scripts/demo.sh and scripts/bench.sh (sourced, not run).
# Creates the Python venv with the pinned emulators and starts/stops them.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/eksscale-run.XXXXXX")
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

# The KEDA 2.20.2 release manifest used by tests, the demo and the benchmark
# (read-only project data kept beside the repository, not copied into it).
find_keda_manifest() {
  local c
  for c in "${EKSSCALE_KEDA_MANIFEST:-}" "$ROOT/../shared/keda/2.20.2/keda-2.20.2.yaml" /work/shared/keda/2.20.2/keda-2.20.2.yaml; do
    if [[ -n "$c" && -f "$c" ]]; then
      export EKSSCALE_KEDA_MANIFEST="$c"
      return 0
    fi
  done
  echo "error: the KEDA 2.20.2 manifest was not found beside the repository (../shared/keda/2.20.2/keda-2.20.2.yaml); set EKSSCALE_KEDA_MANIFEST to its path" >&2
  return 1
}

# Creates the test venvs, each once per change of its requirements file, and both
# at the same time when both need it:
#   .venv          tests/requirements.txt (emulators, validators, minijinja, kubectl)
#   .venv-checkov  tests/samples/requirements-checkov.txt: checkov pins boto3 1.35,
#                  which cannot share a venv with the boto3 moto needs
# Exports EKSSCALE_CHECKOV (tests/samples/validate_samples.py runs it). Each venv
# holds a `.gitignore` of `*`, so git never sees it. `ensure_venv --main-only`
# (the demo, the benchmark) creates only .venv.
ensure_venv() {
  local dirs=("$VENV" "$ROOT/.venv-checkov")
  local reqs=("$ROOT/tests/requirements.txt" "$ROOT/tests/samples/requirements-checkov.txt")
  if [[ "${1:-}" == --main-only ]]; then
    dirs=("$VENV"); reqs=("$ROOT/tests/requirements.txt")
  fi
  local pids=() i want pid failed=0
  for i in "${!dirs[@]}"; do
    want=$(sha256sum "${reqs[$i]}" | cut -d' ' -f1)
    if [[ -x "${dirs[$i]}/bin/python" && -f "${dirs[$i]}/.requirements.sha256" \
          && "$(cat "${dirs[$i]}/.requirements.sha256")" == "$want" ]]; then
      continue
    fi
    log "creating Python venv ${dirs[$i]#"$ROOT/"} from ${reqs[$i]#"$ROOT/"}"
    (
      python3 -m venv "${dirs[$i]}" &&
        printf '*\n' > "${dirs[$i]}/.gitignore" &&
        "${dirs[$i]}/bin/pip" install --quiet --disable-pip-version-check -r "${reqs[$i]}" &&
        echo "$want" > "${dirs[$i]}/.requirements.sha256"
    ) &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  if (( failed )); then
    echo "error: creating a Python venv failed (pip's messages above); run the script again to retry" >&2
    return 1
  fi
  export EKSSCALE_CHECKOV="$ROOT/.venv-checkov/bin/checkov"
}

# start_server NAME SCRIPT [ARGS...]: starts a Python server on a free port,
# waits for its port file, records its PID for stop_servers and sets
# STARTED_PORT. (Not meant for $(...): a subshell would lose the PID.)
start_server() {
  local name=$1 script=$2; shift 2
  local port_file="$RUN_DIR/$name.port" log_file="$RUN_DIR/$name.log"
  "$VENV/bin/python" "$ROOT/$script" --host 127.0.0.1 --port 0 --port-file "$port_file" "$@" >"$log_file" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    if [[ -s "$port_file" ]]; then
      STARTED_PORT=$(cat "$port_file")
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $name exited during start-up; its log:" >&2
      cat "$log_file" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: $name did not start within 30 s; its log:" >&2
  cat "$log_file" >&2
  return 1
}

# The AWS emulator: moto plus the EKS extension (tests/emulator/).
start_emulator() {
  # SQS refuses to re-create a queue name for 60 s after DeleteQueue; the
  # tests create and delete clusters back to back (eksscale waits it out).
  export EMULATOR_SQS_DELETED_RECENTLY_SECONDS=${EMULATOR_SQS_DELETED_RECENTLY_SECONDS:-3}
  start_server aws-emulator tests/emulator/server.py
  EMULATOR_PORT=$STARTED_PORT
  export AWS_ENDPOINT_URL="http://127.0.0.1:$EMULATOR_PORT"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
  log "AWS emulator on $AWS_ENDPOINT_URL"
}

# The fake Kubernetes API server (tests/fakekube/).
start_fakekube() {
  start_server fakekube tests/fakekube/server.py "$@"
  FAKEKUBE_PORT=$STARTED_PORT
  export EKSSCALE_TEST_KUBE="http://127.0.0.1:$FAKEKUBE_PORT"
  log "fake Kubernetes API on $EKSSCALE_TEST_KUBE"
}

# write_fake_kubeconfig FILE: a kubeconfig that reaches the fake API server.
write_fake_kubeconfig() {
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "$EKSSCALE_TEST_KUBE"}}]
users: [{name: fake, user: {token: not-a-secret}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
KC
}

stop_servers() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$RUN_DIR"
}
