# One command per check. `make demo` runs the bot; `make test` runs every test.
# Each target sets itself up (venv keyed by requirements.txt, model keyed by a fingerprint).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
RASA  := $(VENV)/bin/rasa
export PYTHONPATH := $(CURDIR)
export PYTHONWARNINGS := ignore
# Quieter TensorFlow and SQLAlchemy start-up.
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# No usage reporting from a CI box or a bot server (and no network to send it anyway).
export RASA_TELEMETRY_ENABLED := false
# Rasa and the action server share this secret (endpoints.yml, actions/auth.py); unless you set
# one, each machine gets its own random one in var/action-server-token.
ACTION_SERVER_TOKEN ?= $(shell test -s var/action-server-token || { mkdir -p var && \
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > var/action-server-token; }; \
  cat var/action-server-token)
export ACTION_SERVER_TOKEN

.PHONY: demo chat screenshot test setup train model lint types unit validate nlu-gate stories e2e browser bench bench-nlu \
        bench-latency bench-cold-start bench-no-retrain \
        catalog-refresh audit-export generate run actions shell clean

## demo: the bot on the embedded defaults (Zadig + DingTalk simulators, SQLite) and a DingTalk-style
## group chat page in the browser (it prints the URL)
demo: model
	$(PY) -m scripts.demo --web

## chat: the same bot with a chat prompt in the terminal instead of the page
chat: model
	$(PY) -m scripts.demo

## screenshot: docs/webchat.png for the README, from the page driven by a real browser
screenshot: model
	scripts/ensure_chromium.sh
	$(PY) -m scripts.webchat_screenshot

## test: every test (lint, unit, data validation, NLU gate on the held-out set, conversation
## tests, end to end, the web chat in a real browser). Starts PostgreSQL and Redis from Debian's
## packages on loopback (installing them when missing) and stops them afterwards; tests that need
## them fail rather than skip here (CHATOPS_REQUIRE_SERVICES=1).
test: model
	$(PY) scripts/generate_nlu.py --check
	@scripts/services.sh start >var/services.env
	@set -a; . var/services.env; set +a; export CHATOPS_REQUIRE_SERVICES=1; \
	  $(MAKE) --no-print-directory lint types validate unit nlu-gate stories e2e browser; \
	  status=$$?; scripts/services.sh stop; exit $$status

setup:
	@scripts/bootstrap.sh venv

model train:
	@scripts/bootstrap.sh model >/dev/null

generate: setup
	$(PY) scripts/generate_nlu.py

## lint: ruff's checks and its formatter (one formatting policy: `ruff format`, 100 columns)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## types: mypy (the flags of --strict for chatops/, the plain-Python core)
types: setup
	$(VENV)/bin/mypy

## validate: rasa data validate, failing on warnings (scripts/validate_data.py says which one it accepts)
validate: setup
	$(PY) scripts/validate_data.py

unit: setup
	$(PY) -m pytest -q -m "not e2e and not browser"

## nlu-gate: rasa test nlu on tests/nlu (never trained on); fails below the accuracy targets
nlu-gate: model
	$(PY) scripts/nlu_report.py --model "$$(scripts/bootstrap.sh model)" --gate

stories: model
	$(RASA) test core --model "$$(scripts/bootstrap.sh model)" --stories tests/test_stories.yml \
	  --out results/core --fail-on-prediction-errors --no-plot

e2e: model
	scripts/bootstrap.sh stream
	$(PY) -m pytest -q -m "e2e and not browser" tests/e2e tests/stream_sidecar

## browser: the demo's web chat driven by Debian's chromium through Playwright
browser: model
	scripts/ensure_chromium.sh
	$(PY) -m pytest -q -m browser tests/simulators tests/e2e

## bench: start-up and NLU speed through the whole stack, then the latency benchmark under load
## (bench-latency without the profile)
bench: model
	$(PY) -m bench.run
	@$(MAKE) --no-print-directory bench-latency LATENCY_ARGS=

## bench-nlu: train and score every pipeline variant in bench/configs/ (slow: minutes per variant)
bench-nlu: setup
	$(PY) -m bench.nlu_variants

## bench-latency: message -> reply latency at 1/10/50 users through 1 and 2 replicas on PostgreSQL
## and Redis, Rasa's own action-result validation vs the prepared one; py-spy profile (slow: ~25 min)
LATENCY_ARGS ?= --profile
bench-latency: model
	@test -x var/tools-pyspy/bin/py-spy || { python3 -m venv var/tools-pyspy && \
	  var/tools-pyspy/bin/pip install -q py-spy==0.4.1; }
	@scripts/services.sh start >var/services.env
	@set -a; . var/services.env; set +a; $(PY) -m bench.latency $(LATENCY_ARGS); \
	  status=$$?; scripts/services.sh stop; exit $$status

## bench-cold-start: model load time and the Rasa server's memory per pipeline variant
## (needs the variant models of `make bench-nlu`)
bench-cold-start: model
	$(PY) -m bench.cold_start

## bench-no-retrain: services added to the catalog after training, understood after a restart
bench-no-retrain: model
	$(PY) -m bench.no_retrain --model "$$(scripts/bootstrap.sh model)"

catalog-refresh: setup
	$(PY) -m scripts.refresh_catalog

## audit-export: the audit trail as JSON lines on stdout (AUDIT_SINCE=2026-11-01 to limit it)
audit-export: setup
	@$(PY) -m scripts.audit_export $(if $(AUDIT_SINCE),--since $(AUDIT_SINCE))

## the standard processes, for running against a real Zadig / DingTalk (see README)
run: model
	$(RASA) run --credentials credentials.yml --endpoints endpoints.yml --model "$$(scripts/bootstrap.sh model)"
actions: setup
	SANIC_HOST=$${ACTION_SERVER_HOST:-127.0.0.1} $(RASA) run actions --actions actions
shell: model
	$(RASA) shell --endpoints endpoints.yml

clean:
	rm -rf results var/*.db var/logs .pytest_cache
