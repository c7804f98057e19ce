#!/usr/bin/env bash
# Self-setup used by every make target: a Python 3.10 venv keyed by requirements*.txt, and a
# Rasa model keyed by a fingerprint of everything that goes into training.
#   scripts/bootstrap.sh venv     create/refresh .venv when requirements(-dev).txt changed
#   scripts/bootstrap.sh model    train models/chatops-<fingerprint>.tar.gz unless it exists
#   scripts/bootstrap.sh stream   create .venv-stream (Python >= 3.8 with dingtalk-stream)
#   scripts/bootstrap.sh fingerprint
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP=$VENV/.requirements.sha256

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

is_py310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; }

find_python310() {
  local candidate root
  if [ -n "${PYTHON310:-}" ]; then
    is_py310 "$PYTHON310" && { echo "$PYTHON310"; return; }
    die "PYTHON310=$PYTHON310 is not a Python 3.10 interpreter"
  fi
  # pyenv's versions folder first: the bare python3.10 shim refuses unless PYENV_VERSION names it.
  for root in "${PYENV_ROOT:-}" "$(command -v pyenv >/dev/null 2>&1 && pyenv root || true)" "$HOME/.pyenv"; do
    [ -n "$root" ] && [ -d "$root/versions" ] || continue
    for candidate in $(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V -r); do
      is_py310 "$candidate/bin/python" && { echo "$candidate/bin/python"; return; }
    done
  done
  for candidate in "$(command -v python3.10 || true)" /usr/bin/python3.10 /usr/local/bin/python3.10 "$(command -v python3 || true)"; do
    [ -n "$candidate" ] && is_py310 "$candidate" && { echo "$candidate"; return; }
  done
  die "Rasa 3.6 needs Python 3.10 (3.8-3.10 are supported; this project pins 3.10) and none was found.
  Install one, e.g.  pyenv install 3.10.13   or   apt install python3.10 python3.10-venv
  or point PYTHON310=/path/to/python3.10 at an existing interpreter."
}

ensure_venv() {
  local want; want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    return
  fi
  local py; py=$(find_python310)
  say "creating $VENV with $py (Rasa and TensorFlow: about 4 minutes, 2.4 GB)"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip<25" wheel 2>&1 | grep -v "is ignored: it is neither" >&2 || true
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | grep -v -e "is ignored: it is neither" -e "DEPRECATION" >&2 || true
  "$VENV/bin/python" -W ignore -c "import rasa, rasa_sdk, jieba, httpx" 2>/dev/null || die "dependency install failed"
  echo "$want" > "$STAMP"
  say "venv ready: $("$VENV/bin/rasa" --version 2>/dev/null | grep -m1 'Rasa Version' || echo rasa)"
}

fingerprint() {
  # Everything that changes the trained model: data, config, domain, custom NLU components,
  # the pinned runtime dependencies (not the development tools).
  { for f in config.yml domain.yml requirements.txt; do echo "$f"; cat "$f"; done
    find data nlu_components -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.txt' -o -name '*.py' \) \
      -not -path '*/__pycache__/*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
}

ensure_model() {
  ensure_venv
  "$VENV/bin/python" scripts/generate_nlu.py >&2
  local fp model; fp=$(fingerprint); model="models/chatops-$fp.tar.gz"
  if [ -f "$model" ]; then
    touch "$model"   # rasa run/shell pick the newest model in models/
  else
    say "training $model (no model matches the current data/config/domain; ~2 minutes)"
    mkdir -p models
    local started=$SECONDS
    "$VENV/bin/rasa" train --config config.yml --domain domain.yml --data data \
      --out models --fixed-model-name "chatops-$fp" >&2
    say "trained $model in $((SECONDS - started)) s"
    # keep the three newest models
    ls -t models/chatops-*.tar.gz 2>/dev/null | tail -n +4 | xargs -r rm -f
  fi
  echo "$model"
}

ensure_stream() {
  # dingtalk-stream needs websockets>=11 and aiohttp>=3.10; Rasa 3.6 pins both lower, so the
  # Stream sidecar gets its own environment (any Python >= 3.8).
  local req=stream_sidecar/requirements.txt want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x .venv-stream/bin/python ] && [ "$(cat .venv-stream/.requirements.sha256 2>/dev/null)" = "$want" ]; then
    return
  fi
  local py; py=$(command -v python3 || true)
  [ -n "$py" ] || die "Stream mode needs a python3 (>= 3.8) for the sidecar"
  say "creating .venv-stream with $py for the DingTalk Stream sidecar"
  rm -rf .venv-stream
  "$py" -m venv .venv-stream
  .venv-stream/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" 2>&1 \
    | grep -v -e "is ignored: it is neither" -e "DEPRECATION" >&2 || true
  .venv-stream/bin/python -c "import dingtalk_stream, httpx" || die "sidecar dependency install failed"
  echo "$want" > .venv-stream/.requirements.sha256
}

case "${1:-}" in
  venv) ensure_venv ;;
  model) ensure_model ;;
  stream) ensure_stream ;;
  fingerprint) fingerprint ;;
  *) die "usage: $0 venv|model|stream|fingerprint" ;;
esac
