# Two commands do all set-up on a fresh machine:
#   make demo   a full local promotion, end to end
#   make test   every check CI runs: lint, types, SAM validate/build, unit, integration and e2e tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
# sam build needs the Lambda runtime's interpreter on PATH.
# A real interpreter directory first: a pyenv shim directory makes sam's builder hang in `pyenv which`.
PY313_DIR ?= $(or $(firstword $(wildcard /root/.pyenv/versions/3.13*/bin/)),$(dir $(shell command -v python3.13 2>/dev/null)))
export SAM_CLI_TELEMETRY := 0
# The suites run on pytest-xdist workers, one per core up to four: an integration test spends most of its wall
# time waiting on its plane's Wait states and polls, so two workers nearly halve the run on two cores. Each
# worker starts its own local plane (ports are picked at random). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses=4

.PHONY: setup sam-setup demo up test lint typecheck sam-validate sam-build unit integration e2e e2e-setup iam-report \
	diagrams docs clean

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# aws-sam-cli pins an older boto3 and is large: it lives in its own environment, with AWS's serverless
# rules for cfn-lint (the marker's name changes when what is installed here changes).
sam-setup: $(SAM_VENV)/.installed-2
$(SAM_VENV)/.installed-2:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	$(SAM_VENV)/bin/pip install -q "aws-sam-cli>=1.120" "cfn-lint-serverless>=0.3"
	touch $@

demo: setup
	$(BIN)/promote demo

up: setup
	$(BIN)/promote local up

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy layers/shared/promotion src/promote_cli functions

sam-validate: sam-setup
	$(SAM_VENV)/bin/sam validate --lint -t template.yaml
	$(SAM_VENV)/bin/sam validate --lint -t examples/sentiment-service/template.yaml
	$(SAM_VENV)/bin/sam validate --lint -t roles/ci-upload.yaml
	$(SAM_VENV)/bin/sam validate --lint -t roles/deployer.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml examples/sentiment-service/template.yaml -a cfn_lint_serverless.rules

# Then the build's bytecode, compiled by the runtime's Python: Lambda's code directories are read-only, so
# without .pyc files in the package every cold start compiles each module it imports from source, and Lambda
# bills INIT (bench/promotion_bench.py prints the difference). Unchecked-hash .pyc files are used as shipped,
# whatever times the files get when Lambda unpacks them; sam deploy packages them from .aws-sam/build.
sam-build: sam-setup
	PATH="$(PY313_DIR):$$PATH" $(SAM_VENV)/bin/sam build --template-file template.yaml
	PATH="$(PY313_DIR):$$PATH" python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration

e2e: setup e2e-setup
	$(PYTEST) tests/e2e

# The browser test drives Debian's Chromium with Selenium (browser downloads are not possible here).
# Idempotent: installs only when the browser or its driver is missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
e2e-setup:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; \
	fi

# Least privilege: run the promotion and approval paths with the local plane recording every permission its
# IAM enforcement allowed, then list what template.yaml grants that nothing used, each with the reason it is
# kept (iam-kept-permissions.toml); an unused grant with no reason fails.
IAM_RECORD := $(CURDIR)/.iam-report/record.jsonl
iam-report: setup
	rm -rf .iam-report && mkdir -p .iam-report
	PROMOTE_IAM_RECORD=$(IAM_RECORD) $(BIN)/pytest -q \
		tests/integration/pipeline/test_promotion_happy_path.py tests/integration/pipeline/test_promotion_paths.py \
		tests/integration/pipeline/test_failure_paths.py tests/integration/pipeline/test_locks.py \
		tests/integration/pipeline/test_rollout.py tests/integration/pipeline/test_windows.py \
		tests/integration/approvals/test_approval_flows.py \
		tests/integration/approvals/test_slack_approvals.py tests/integration/github/test_webhook_promotions.py; \
		tests=$$?; $(BIN)/python -m promote_cli.local.iam_report $(IAM_RECORD) iam-kept-permissions.toml && exit $$tests

# Generated docs: the state machine diagram in docs/architecture.md, from the ASL, and the pipeline config's
# JSON Schema, from its model (tests/unit/cli/test_graph.py and tests/unit/cli/test_pipeline_commands.py fail
# when the committed ones differ). `make docs` is the same target.
diagrams docs: setup
	$(BIN)/python -m promote_cli.graph --write-doc docs/architecture.md
	$(BIN)/promote pipeline schema > docs/pipeline.schema.json

# Two runs rather than one: a single run, where each worker goes on to unit tests with its local planes' moto
# state still in memory, took about 8 minutes longer than the two parts measured apart (38 against 30).
test: lint typecheck sam-validate sam-build e2e-setup
	$(PYTEST) tests/unit
	$(PYTEST) tests/integration tests/e2e

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .iam-report
