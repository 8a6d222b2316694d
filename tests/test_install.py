"""What an install brings: serving needs uvicorn, httptools and uvloop, not uvicorn[standard]'s
development packages; the PostgreSQL driver is the ``postgresql`` extra, and a SQLite-only install
runs without it (a PostgreSQL URL then says which extra to install)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> dict[str, str]:
    """Requirement name (lower case) -> the whole requirement."""
    out = {}
    for req in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", req)
        assert match, req
        out[match.group(0).lower()] = req
    return out


def test_serving_needs_only_uvicorn_httptools_and_uvloop() -> None:
    base = _names(PROJECT["dependencies"])
    assert base["uvicorn"].startswith("uvicorn>=")  # no [standard]: no watchfiles, websockets, dotenv
    assert {"httptools", "uvloop"} <= base.keys()  # serve runs http="httptools" (cli/main.py) on uvloop
    assert not {"watchfiles", "websockets", "pyyaml"} & base.keys()
    cli = (ROOT / "carewindow" / "cli" / "main.py").read_text()
    assert 'http="httptools"' in cli and "import uvloop" in cli


def test_postgresql_is_an_extra_that_the_tests_install() -> None:
    base = _names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    assert "psycopg" not in base
    assert any(r.startswith("psycopg[binary]") for r in extras["postgresql"])
    assert "carewindow[postgresql]" in extras["test"]  # make test runs the PostgreSQL variants
    assert "carewindow[postgresql]" in extras["dev"]  # mypy reads storage's driver code


# Fails every import of psycopg, as on an install without the postgresql extra.
WITHOUT_PSYCOPG = """
import sys

class NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPsycopg())
"""

SQLITE_ONLY = """
import asyncio, importlib, pkgutil, sys
import httpx
import carewindow

# Every module imports (the ASGI entry point and __main__ run a server or the CLI when imported).
skip = ("carewindow.storage.migrations", "carewindow.api.asgi", "carewindow.__main__")
for info in pkgutil.walk_packages(carewindow.__path__, "carewindow."):
    if not info.name.startswith(skip):
        importlib.import_module(info.name)

from carewindow.api.app import create_app
from carewindow.settings import Settings
from carewindow.storage.engine import make_engine
from carewindow.storage.errors import StorageError

settings = Settings(database_url=sys.argv[1], provider="sandbox", api_keys="k1:admin")
app = create_app(settings, migrate=True, run_worker=False, loopback=True)

async def tour():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/healthz")).status_code == 200
            r = await http.get("/v1/conversations", headers={"Authorization": "Bearer k1"})
            assert r.status_code == 200, r.text

asyncio.run(tour())
try:
    make_engine("postgresql://postgres@127.0.0.1:5432/test")
except StorageError as exc:
    print("postgresql:", exc)
assert "psycopg" not in sys.modules
print("sqlite ok")
"""


def test_a_sqlite_only_install_runs_without_psycopg(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWINDOW_")}
    r = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG + SQLITE_ONLY, f"sqlite:///{tmp_path / 'cw.db'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "sqlite ok" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("postgresql:"))
    assert "pip install 'carewindow[postgresql]'" in line and "No module named 'psycopg'" in line
    assert "Traceback" not in r.stderr


def test_the_blocker_does_block() -> None:
    """The check above would pass vacuously if the blocker let psycopg through."""
    r = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG + "import psycopg"], capture_output=True, text=True
    )
    assert r.returncode == 1 and "No module named 'psycopg'" in r.stderr


def test_the_cli_names_the_extra_without_a_traceback(tmp_path: Path) -> None:
    """``carewindow migrate`` on a PostgreSQL URL without the driver: one line naming the extra."""
    cli = "from carewindow.cli.main import app\napp(['migrate'], prog_name='carewindow')\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWINDOW_")}
    env["CAREWINDOW_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/test"
    r = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG + cli],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert "carewindow[postgresql]" in out
    assert "Traceback" not in out and "│" not in out  # neither Python's nor Rich's traceback


def test_s3_is_an_extra_that_the_tests_install() -> None:
    base = _names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    assert "boto3" not in base  # the directory store needs nothing more
    assert any(r.startswith("boto3>=") for r in extras["s3"])
    assert "carewindow[s3]" in extras["test"]  # both media stores are tested (tests/media/)
    assert any(r.startswith("moto[server]==") for r in extras["test"])  # the S3-compatible server
