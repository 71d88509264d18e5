# Closer: the README's two commands, `make run` and `make test`, do all set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test install install-test vendor migrate instance lint audit bench mutation clean

run: install instance migrate
	PORT=$(PORT) HOST=$(HOST) scripts/serve

test: install-test instance-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Front-end packages are served from our own origin: copied from npm's install, never committed.
static/vendor/htmx.min.js: node_modules/.package-lock.json
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

vendor: static/vendor/htmx.min.js

install: $(VENV)/.installed vendor
install-test: $(VENV)/.installed-test vendor

# Local secrets, owner-only, never committed.
instance/secret_key:
	mkdir -p instance && chmod 700 instance
	umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@

instance: instance/secret_key
	@if [ -f reminders/cli.py ]; then $(BIN)/flask --app app push init-keys; fi

instance-test:
	mkdir -p instance && chmod 700 instance

migrate: instance/secret_key
	$(BIN)/flask --app app db upgrade

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# bandit, pip-audit and npm audit (CI runs it after the tests).
audit: install-test
	scripts/audit

# Benchmarks, never run by `make test`: the table goes to BENCHMARKS.md and bench/results.json.
# Servers, databases and keys live in temporary directories, so instance/ is left alone.
# BENCH_ARGS="--only server --quick" for a partial run (written to bench/out/).
bench: install-test
	scripts/system-packages chromium wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

# Mutation testing of the pure modules (pyproject.toml, [tool.mutmut]: which modules, which
# tests), never run by `make test`: fails unless at least MUTATION_MIN % of mutants are killed.
# mutmut works on a copy of the tree in mutants/ (git-ignored), made afresh each time.
MUTATION_MIN ?= 90
mutation: install-test instance-test
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 > mutants.log 2>&1 || (tail -c 3000 mutants.log; exit 1)
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/mutmut results
	scripts/mutation-score mutants/mutmut-cicd-stats.json $(MUTATION_MIN)

clean:
	rm -rf $(VENV) node_modules static/vendor mutants mutants.log
