"""The deployment files agree with the application: docker-compose.yml, the Dockerfile, coturn's and nginx's
configs.

No Docker engine is needed: the files are parsed and checked against server.settings.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("nginx", "hemicycle", "hemicycle-2", "postgres", "redis", "coturn")
HEMICYCLES = ("hemicycle", "hemicycle-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Compose accepts a mapping or a list of NAME=value strings."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {name: "" if value is None else str(value) for name, value in raw.items()}


def _command(service: dict[str, Any]) -> list[str]:
    raw = service.get("command") or []
    return shlex.split(raw) if isinstance(raw, str) else [str(arg) for arg in raw]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def _exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not the exec (JSON) form: {arguments}"
    return [str(arg) for arg in parsed]


def test_the_services_are_defined(compose: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(compose["services"])


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    healthcheck = _service(compose, name).get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    test = healthcheck["test"]
    assert test and (isinstance(test, str) or test[0] in ("CMD", "CMD-SHELL")), test


@pytest.mark.parametrize("name", HEMICYCLES)
def test_hemicycle_waits_for_a_healthy_database_and_redis(compose: dict[str, Any], name: str) -> None:
    depends_on = _service(compose, name)["depends_on"]
    assert isinstance(depends_on, dict), "the long form is needed to wait for health"
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", HEMICYCLES)
def test_hemicycle_sets_only_variables_that_hemicycle_reads(compose: dict[str, Any], name: str) -> None:
    environment = _environment(_service(compose, name))
    unknown = sorted(set(environment) - set(ENVIRONMENT))
    assert unknown == [], f"not in server.settings.ENVIRONMENT: {unknown}"


def test_the_processes_share_one_configuration(compose: dict[str, Any]) -> None:
    """Same database, Redis, secret and data: any process may serve any attendee."""
    first, *others = (_environment(_service(compose, name)) for name in HEMICYCLES)
    for environment in others:
        assert environment == first


def _nginx_site() -> str:
    return (REPO / "deploy/nginx/hemicycle.conf").read_text()


def _nginx_directives(text: str) -> list[str]:
    """The config's statements, comments dropped and whitespace collapsed ("server hemicycle:8080 ...")."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return [
        " ".join(statement.split()) for statement in re.split(r"[;{}]", " ".join(lines)) if statement.strip()
    ]


def test_nginx_fronts_every_process(compose: dict[str, Any]) -> None:
    nginx = _service(compose, "nginx")
    mounts = {str(volume).split(":")[0]: str(volume).split(":")[1] for volume in nginx["volumes"]}
    assert mounts["./deploy/nginx/hemicycle.conf"].startswith("/etc/nginx/conf.d/")
    assert mounts["./deploy/nginx/nginx.conf"] == "/etc/nginx/nginx.conf"
    for name in HEMICYCLES:
        assert nginx["depends_on"][name]["condition"] == "service_healthy"
    upstreams = [d.split()[1] for d in _nginx_directives(_nginx_site()) if d.startswith("server hemicycle")]
    assert sorted(upstreams) == sorted(f"{name}:8080" for name in HEMICYCLES)
    # Only nginx is published: a process reached directly would see no X-Forwarded-For. (Grafana is published
    # on the host's loopback only, and is not Hemicycle.)
    services = compose["services"].items()
    published = [name for name, service in services if service.get("ports") and name not in MONITORING]
    assert published == ["nginx"]
    assert any(str(port).endswith(":8080") for port in nginx["ports"])


@pytest.mark.parametrize("name", HEMICYCLES)
def test_the_processes_trust_the_proxy_headers(compose: dict[str, Any], name: str) -> None:
    assert _environment(_service(compose, name))["HEMICYCLE_PROXY_HEADERS"] == "on"
    directives = _nginx_directives(_nginx_site())
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in directives


def test_nginx_keeps_polling_sticky_and_passes_websockets() -> None:
    directives = _nginx_directives(_nginx_site())
    assert any(d.startswith(("hash ", "ip_hash")) for d in directives), "long-polling needs sticky routing"
    assert "proxy_http_version 1.1" in directives
    assert "proxy_set_header Upgrade $http_upgrade" in directives
    assert any(d.startswith("proxy_set_header Connection ") for d in directives)
    # Passive health checks: a dead process is skipped.
    assert all(
        "max_fails=" in d and "fail_timeout=" in d for d in directives if d.startswith("server hemicycle")
    )
    # A POST is never replayed on another process (a question or a registration would be doubled).
    assert not any("non_idempotent" in d for d in directives if d.startswith("proxy_next_upstream"))


def test_nginx_limits_new_connections_per_page_not_per_address() -> None:
    """A page in a reconnect loop is held back; a venue behind one address is not (the key has the route)."""
    directives = _nginx_directives(_nginx_site())
    zone = next(d for d in directives if d.startswith("limit_req_zone "))
    assert zone.split()[1] == "$hemicycle_handshake"
    assert any(d.startswith("limit_req zone=") for d in directives)
    assert "limit_req_status 429" in directives
    assert '"~^:/socket\\.io/" "$binary_remote_addr$arg_route"' in directives


def test_hemicycle_uses_postgresql_and_redis(compose: dict[str, Any]) -> None:
    environment = _environment(_service(compose, "hemicycle"))
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")


def test_database_credentials_agree(compose: dict[str, Any]) -> None:
    database_url = _environment(_service(compose, "hemicycle"))["DATABASE_URL"]
    postgres = _environment(_service(compose, "postgres"))
    user, database = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    assert database_url.startswith(f"postgresql+asyncpg://{user}:")
    assert database_url.endswith(f"/{database}")
    # The same compose variable on both sides, and it must be given.
    password_variable = re.search(r"\$\{(\w+):\?", postgres["POSTGRES_PASSWORD"])
    assert password_variable, "POSTGRES_PASSWORD must be required with ${VAR:?message}"
    assert f"${{{password_variable.group(1)}:?" in database_url


def test_secrets_are_required_not_defaulted(compose: dict[str, Any]) -> None:
    secret = _environment(_service(compose, "hemicycle"))["HEMICYCLE_SECRET"]
    assert secret.startswith("${HEMICYCLE_SECRET:?"), secret
    coturn_args = " ".join(_command(_service(compose, "coturn")))
    assert "--static-auth-secret=${TURN_SECRET:?" in coturn_args


def test_hemicycle_and_coturn_share_the_turn_secret(compose: dict[str, Any]) -> None:
    """Hemicycle mints the TURN credentials coturn checks: both read the same required variable."""
    secret = _environment(_service(compose, "hemicycle"))["HEMICYCLE_TURN_SECRET"]
    assert secret.startswith("${TURN_SECRET:?"), secret
    assert "--use-auth-secret" in _command(_service(compose, "coturn"))


def test_coturn_uses_time_limited_credentials(compose: dict[str, Any]) -> None:
    coturn = _service(compose, "coturn")
    config_lines = {
        line.strip()
        for line in (REPO / "deploy/coturn/turnserver.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert "use-auth-secret" in config_lines or "--use-auth-secret" in _command(coturn)
    assert not any(line.startswith(("user=", "lt-cred-mech")) for line in config_lines)
    mounts = [str(volume).split(":")[0] for volume in coturn.get("volumes", [])]
    assert "./deploy/coturn/turnserver.conf" in mounts


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name in SERVICES:
        for volume in _service(compose, name).get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_dockerfile_runs_hemicycle_serve() -> None:
    instructions = _dockerfile_instructions()
    commands = [arguments for instruction, arguments in instructions if instruction == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    command = _exec_form(commands[-1])
    assert command[:2] == ["hemicycle", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8080"


def test_dockerfile_runs_as_a_user_and_checks_health() -> None:
    instructions = _dockerfile_instructions()
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8080") in instructions
    healthchecks = [arguments for instruction, arguments in instructions if instruction == "HEALTHCHECK"]
    assert healthchecks and "/api/health" in healthchecks[-1]


def test_dockerfile_copies_what_exists_and_is_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources: list[str] = []
    for instruction, arguments in _dockerfile_instructions():
        if instruction == "COPY" and "--from" not in arguments:
            sources += arguments.split()[:-1]
    assert sources
    for source in sources:
        path = source.rstrip("/")
        assert (REPO / path).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert path not in ignored, f"the Dockerfile copies {source}, which .dockerignore excludes"
    # pip install . reads the readme that pyproject.toml names.
    assert "README.md" in sources


def test_dockerfile_installs_the_wheel_and_sets_no_pythonpath() -> None:
    """The image runs the installed package (pages included), not the sources on an import path."""
    instructions = _dockerfile_instructions()
    environment = [arguments for instruction, arguments in instructions if instruction == "ENV"]
    assert not any("PYTHONPATH" in arguments for arguments in environment)
    runs = [arguments for instruction, arguments in instructions if instruction == "RUN"]
    assert any("pip wheel" in run for run in runs)
    assert any(re.search(r"pip install \S*\.whl", run) for run in runs)


MONITORING = ("prometheus", "grafana")


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_services_are_checked_and_their_volumes_exist(compose: dict[str, Any], name: str) -> None:
    service = _service(compose, name)
    assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    declared = set(compose.get("volumes") or {})
    for volume in service.get("volumes", []):
        source = str(volume).split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        else:
            assert source in declared, f"{name} mounts undeclared volume {source}"


def test_prometheus_scrapes_hemicycle_with_the_metrics_token(compose: dict[str, Any]) -> None:
    """The token hemicycle requires is the secret Prometheus sends, through the file its config names."""
    for name in HEMICYCLES:
        token = _environment(_service(compose, name))["HEMICYCLE_METRICS_TOKEN"]
        assert token.startswith("${HEMICYCLE_METRICS_TOKEN:?"), token
    assert compose["secrets"]["metrics_token"] == {"environment": "HEMICYCLE_METRICS_TOKEN"}
    assert "metrics_token" in _service(compose, "prometheus")["secrets"]
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (targets,) = job["static_configs"]
    assert sorted(targets["targets"]) == sorted(f"{name}:8080" for name in HEMICYCLES)
    # Grafana's data source is this Prometheus.
    sources = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_dashboard_shows_only_series_the_server_exports(compose: dict[str, Any]) -> None:
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/hemicycle.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in _service(compose, "grafana")["volumes"]}
    assert mounts[path] == "./deploy/grafana/dashboards"
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/hemicycle.json").read_text())
    documented = set(re.findall(r"`(hemicycle_\w+)`", (REPO / "docs/protocol.md").read_text()))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 10
    for expression in expressions:
        for name in re.findall(r"\bhemicycle_\w+", expression):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in documented or base in documented, f"{name} is not a documented series"
