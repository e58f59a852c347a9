"""The package installs: the built wheel, in a fresh virtual environment, serves every page from anywhere.

The wheel is built offline (no build isolation, with the setuptools of the test environment) from a copy of
the sources, installed into a new virtual environment without its dependencies, which come from this
environment through a .pth file; then `hemicycle serve --demo` runs from an empty folder, with no
PYTHONPATH, and every page and every browser file is fetched from it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

import server

from .helpers import die_with_parent, free_port, serve_output

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would point the installed copy at the sources."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HEMICYCLE_", "PYTHON"))
        and name not in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV")
    }


def test_every_python_package_is_listed_in_pyproject() -> None:
    """pyproject.toml lists its packages (web/ is mapped into server/): a new one must be added there."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("server", "signaling")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found - set(config["packages"]) == set(), "add these packages to pyproject.toml"
    assert config["package-dir"]["server.web"] == "web"


def _run(*args: str | Path, cwd: Path, timeout: float = 60) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the built wheel; returns its bin folder."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    # A copy, so that building leaves no build/ or egg-info in the working tree (and runs never collide).
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("server", "signaling", "web"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = root / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        dist,
        source,
        cwd=root,
        timeout=120,
    )
    (wheel,) = dist.glob("hemicycle-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    _run(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=root,
    )  # fmt: skip
    # The dependencies: this environment's, appended after the new environment's own site-packages, so the
    # installed hemicycle is imported and not the sources.
    (site,) = (venv / "lib").glob("python3*/site-packages")
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    return venv / "bin"


def test_the_wheel_holds_every_browser_file(installed: Path, tmp_path: Path) -> None:
    where = _run(installed / "python", "-c", "import server; print(server.__file__)", cwd=tmp_path).strip()
    assert Path(where).is_relative_to(installed.parent), where
    package = Path(where).parent
    expected = {path.relative_to(WEB) for path in WEB.rglob("*") if path.is_file()}
    shipped = {path.relative_to(package / "web") for path in (package / "web").rglob("*") if path.is_file()}
    assert expected - shipped == set()
    assert (package / "templates" / "report.html").is_file()
    assert list((package / "migrations" / "versions").glob("*.py"))


def test_version(installed: Path, tmp_path: Path) -> None:
    printed = _run(installed / "hemicycle", "--version", cwd=tmp_path).strip()
    assert printed == f"hemicycle {server.__version__}"


def test_serve_demo_from_any_folder_serves_every_page(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(installed / "hemicycle"), "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    try:
        deadline = time.monotonic() + 60
        output = serve_output(process, deadline)
        assert "Hemicycle is running on" in output, output
        # Every role link the demo prints, without its #token, then the pages no link names.
        pages = {url.split("#", 1)[0] for url in re.findall(rf"{re.escape(base)}/\S+", output)}
        pages |= {f"{base}/", f"{base}/e/1/report"}
        assert {f"{base}/s/1", f"{base}/s/1/moderator", f"{base}/e/1/admin"} <= pages, output
        while True:
            try:
                _get(f"{base}/api/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
        for url in sorted(pages):
            status, body = _get(url)
            assert status == 200 and b"<!doctype html>" in body[:200].lower(), url
        for path in sorted(WEB.rglob("*")):
            if path.is_file():
                name = path.relative_to(WEB).as_posix()
                status, body = _get(f"{base}/static/{name}")
                assert status == 200 and body == path.read_bytes(), name
        # The demo's database and secret are in the working folder's var/, where it was started.
        assert (tmp_path / "var" / "hemicycle.db").is_file()
    finally:
        process.terminate()
        process.communicate(timeout=15)
