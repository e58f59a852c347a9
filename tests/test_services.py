"""The service fixtures hand out working servers, and CI turns skips into failures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from tests.services import CHROMIUM_ARGS, temporary_database

REPO = Path(__file__).resolve().parent.parent


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.mark.parametrize("run", [1, 2])
async def test_pg_database_url_is_a_new_empty_database(pg_database_url: str, run: int) -> None:
    assert pg_database_url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(_dsn(pg_database_url))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        # The second run would see the first run's table if the database were shared.
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        await conn.execute("CREATE TABLE probe (id integer)")
    finally:
        await conn.close()


async def test_temporary_database_is_dropped_even_while_connected(postgres_url: str) -> None:
    async def exists(name: str) -> bool:
        conn = await asyncpg.connect(_dsn(postgres_url))
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    with temporary_database(postgres_url) as url:
        name = url.rsplit("/", 1)[1]
        assert await exists(name)
        # Left open on purpose, like a server process that has not shut down yet: the drop must not wait.
        lingering = await asyncpg.connect(_dsn(url))
    try:
        assert not await exists(name)
    finally:
        lingering.terminate()


@pytest.mark.parametrize("run", [1, 2])
async def test_fresh_redis_url_is_an_empty_database(fresh_redis_url: str, run: int) -> None:
    client = aioredis.from_url(fresh_redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("probe", f"run {run}")
        assert await client.get("probe") == f"run {run}".encode()
    finally:
        await client.aclose()


def test_chromium_runs_headless_with_the_suite_flags(chromium_path: str, tmp_path: Path) -> None:
    version = subprocess.run(
        [chromium_path, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "chrom" in version.stdout.lower()
    page = subprocess.run(
        [
            chromium_path,
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            "data:text/html,<p id=probe>hemicycle</p>",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    assert '<p id="probe">hemicycle</p>' in page.stdout


def _inner_pytest(tmp_path: Path, source: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run pytest outside the repository on one test file, loading this plugin as tests/conftest.py does:
    from a conftest in a subdirectory, which makes pytest treat the plugin differently above it."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text('pytest_plugins = ["tests.services"]\n')
    (suite / "test_inner.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "suite"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SKIPPING = """
    import pytest

    def test_runs():
        pass

    def test_skips():
        pytest.skip("no frobnicator here")

    @pytest.mark.xfail(reason="known", strict=True)
    def test_expected_failure():
        raise AssertionError
"""

NOT_SKIPPING = """
    import pytest

    def test_runs():
        pass

    @pytest.mark.xfail(reason="known", strict=True)
    def test_expected_failure():
        raise AssertionError
"""


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_under_ci_a_skipped_test_fails_the_run(tmp_path: Path, ci: str) -> None:
    result = _inner_pytest(tmp_path, SKIPPING, ci=ci)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "1 skipped test(s) fail this run" in result.stdout
    assert "suite/test_inner.py::test_skips: no frobnicator here" in result.stdout


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_outside_ci_a_skip_is_only_a_skip(tmp_path: Path, ci: str | None) -> None:
    result = _inner_pytest(tmp_path, SKIPPING, ci=ci)
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr


def test_under_ci_an_xfail_is_not_a_skip(tmp_path: Path) -> None:
    result = _inner_pytest(tmp_path, NOT_SKIPPING, ci="true")
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
