# Thin wrappers over scripts/: one command per job (see scripts/README.md).
.PHONY: run test lint fmt bench fuzz migrate reliability clean
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
clean:
	rm -rf .venv var .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results.json
