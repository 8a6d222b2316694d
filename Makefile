# Thin wrappers over scripts/: one command per job (see scripts/README.md).
.PHONY: run test lint fmt bench fuzz migrate reliability newcomer clean clean-all
run:  # make run PORT=8040 chooses the port
	@PORT="$(PORT)" scripts/run
test:
	@scripts/test
lint:
	@scripts/lint
fmt:
	@scripts/fmt
bench:
	@scripts/bench
fuzz:
	@scripts/fuzz
migrate:
	@scripts/migrate
reliability:
	@scripts/reliability-report --docs
newcomer:
	@scripts/newcomer
# `make clean` removes what installs and test runs build, and keeps var/ (the SQLite database and the
# development API key): data is never deleted as a side effect. `make clean-all` deletes var/ too and
# says so first.
BUILT = .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results.json
clean:
	rm -rf $(BUILT)
	@if [ -e var ]; then echo "kept var/ (the database and the development API key); 'make clean-all' deletes it too"; fi
clean-all:
	rm -rf $(BUILT)
	@if [ -e var ]; then echo "deleting var/, the database and the development API key:" $$(ls -A var); rm -rf var; fi
