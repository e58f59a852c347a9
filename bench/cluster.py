"""Several `hemicycle serve` processes behind nginx, on loopback, for the benchmark and the tests.

nginx runs from the system's binary with the site configuration shipped in deploy/nginx/hemicycle.conf,
unchanged but for its `listen` port and its `upstream` servers, inside a main configuration of its own
whose pid, logs and temporary files stay in a directory of the caller's. So what is measured and tested is
what an operator deploys.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "hemicycle.conf"
MAIN = ROOT / "deploy" / "nginx" / "nginx.conf"

_UPSTREAM_SERVER = re.compile(r"^(\s*)server\s+hemicycle[\w.-]*:8080(.*?);\s*(#.*)?$")
NGINX_LIMITS = ("worker_connections", "worker_rlimit_nofile")
_LISTEN = re.compile(r"^(\s*)listen\s+8080\s*;", re.MULTILINE)


class ClusterError(RuntimeError):
    """nginx or a server process did not start; the message says why, with its log."""


def find_nginx() -> str | None:
    """The nginx binary: HEMICYCLE_NGINX, PATH, or Debian's /usr/sbin (often not on a user's PATH)."""
    for candidate in (os.environ.get("HEMICYCLE_NGINX", "").strip(), "nginx", "/usr/sbin/nginx"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def site_config(listen: str, upstreams: list[str], site: str | None = None) -> str:
    """The shipped site with nginx listening on `listen` ("127.0.0.1:8443") in front of `upstreams`
    ("127.0.0.1:9001", ...), each with the parameters the shipped servers have (max_fails...)."""
    text = SITE.read_text() if site is None else site
    lines: list[str] = []
    replaced = False
    for line in text.splitlines():
        match = _UPSTREAM_SERVER.match(line)
        if match is None:
            lines.append(line)
            continue
        if not replaced:
            indent, parameters = match.group(1), match.group(2)
            lines += [f"{indent}server {address}{parameters};" for address in upstreams]
            replaced = True
    if not replaced:
        raise ClusterError(f"no `server hemicycle...:8080` line in {SITE}")
    result, count = _LISTEN.subn(rf"\g<1>listen {listen};", "\n".join(lines) + "\n")
    if count != 1:
        raise ClusterError(f"expected one `listen 8080;` in {SITE}, found {count}")
    return result


def shipped_limits(main: Path = MAIN) -> tuple[int, int]:
    """(worker_connections, worker_rlimit_nofile) of the shipped main configuration: a throwaway nginx must
    hold as many attendees as a deployed one (each holds two connections: theirs and nginx's upstream)."""
    text = main.read_text()
    found = [re.search(rf"^\s*{name}\s+(\d+)\s*;", text, re.MULTILINE) for name in NGINX_LIMITS]
    if not all(found):
        raise ClusterError(f"{main} must set {' and '.join(NGINX_LIMITS)}")
    connections, files = (int(m.group(1)) for m in found if m)
    return connections, files


def main_config(prefix: Path, site_path: Path) -> str:
    """A main configuration that keeps everything of nginx inside `prefix`, with the shipped one's limits
    (one worker: the benchmark's machine has two cores for everything)."""
    # As root, nginx's workers would switch to `nobody`, who may not write the temporary directories here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    connections, files = shipped_limits()
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"worker_rlimit_nofile {files};\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections {connections}; }}\n"
        "http {\n"
        "    access_log off;\n"
        f"{temp}\n"
        f"    include {site_path};\n"
        "}\n"
    )


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Nginx:
    """A throwaway nginx in `prefix` listening on 127.0.0.1:`port` in front of `upstreams`."""

    binary: str
    prefix: Path
    port: int
    upstreams: list[str]
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        site = self.prefix / "hemicycle.conf"
        site.write_text(site_config(f"127.0.0.1:{self.port}", self.upstreams))
        conf = self.prefix / "nginx.conf"
        conf.write_text(main_config(self.prefix, site))
        command = [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        checked = subprocess.run(
            [*command, "-t", "-q"], capture_output=True, text=True, timeout=30, check=False
        )
        if checked.returncode != 0:
            raise ClusterError(f"nginx refuses the configuration: {checked.stderr.strip()}")
        with (self.prefix / "nginx.out").open("wb") as log:
            self.popen = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ClusterError(f"nginx did not start: {self.error_log()}")
            time.sleep(0.05)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no error log)"

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        # SIGQUIT: graceful stop; the master and its worker leave together.
        self.popen.send_signal(signal.SIGQUIT)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
