"""docker-compose.yml: the services, mounts and environment it defines, and that it has no
default secret. With Debian's docker-compose installed (.ci/run installs it), also
`docker-compose config` on the real file."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
AIRFLOW_SERVICES = {
    "airflow-init": ["version"],
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
# The variables that contain a secret, and so must have no default.
SECRETS = (
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_CONN_SMTP_DEFAULT",
    "DUPMON_PAIR_KEY_SECRET",
)
REQUIRED = (*SECRETS, "DUPMON_OPERATOR_EMAIL")
# Stand-in values for `docker-compose config`: all test-only, none a real secret.
TEST_ENVIRONMENT = {name: f"test-{name.lower()}" for name in REQUIRED}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict:
    return service.get("environment") or {}


# --- services ----------------------------------------------------------------


def test_compose_service_names(services):
    expected = {*AIRFLOW_SERVICES, "postgres", "redis", "mailcatcher"}

    assert set(services) == expected


@pytest.mark.parametrize(("name", "command"), AIRFLOW_SERVICES.items())
def test_airflow_service_command(services, name, command):
    assert services[name]["command"] == command


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_builds_project_image(services, name):
    assert services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}


def test_dockerfile_base_image():
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)

    assert base.group(1) == "apache/airflow:3.3.2-python3.11"


def test_dockerfile_installs_requirements():
    text = DOCKERFILE.read_text(encoding="utf-8")

    assert "-r /opt/dupmon/requirements.txt -c /opt/dupmon/constraints.txt" in text
    assert "-e /opt/dupmon" in text


def test_dockerfile_compiles_package_bytecode():
    # An editable install writes no bytecode, and a task process that may
    # not write it would compile dupmon's modules at every start.
    last = _dockerfile_stages()[-1]

    assert "python -m compileall -q /opt/dupmon/include" in last
    assert last.index("-e /opt/dupmon") < last.index("compileall")


def test_make_setup_compiles_project_bytecode():
    recipe = re.search(r"^setup:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)

    assert recipe is not None
    assert "-m compileall -q include dags plugins" in recipe.group(1)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_celery_executor(services, name):
    env = environment(services[name])

    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "dupmon_airflow.celery_config.CELERY_CONFIG"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_metadata_on_postgres(services, name):
    env = environment(services[name])

    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"):
        assert env[key].startswith("postgresql+psycopg://airflow:"), key
        assert env[key].endswith("@postgres/airflow"), key
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("@postgres/airflow")


@pytest.mark.parametrize("name", sorted(set(AIRFLOW_SERVICES) - {"airflow-init"}))
def test_airflow_service_waits_for_init(services, name):
    depends_on = services[name]["depends_on"]

    assert depends_on["airflow-init"] == {"condition": "service_completed_successfully"}
    assert depends_on["postgres"] == {"condition": "service_healthy"}
    assert depends_on["redis"] == {"condition": "service_healthy"}


def test_workers_reach_execution_api(services):
    env = environment(services["airflow-worker"])

    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_mailcatcher_staging_only(services):
    assert services["mailcatcher"]["profiles"] == ["staging"]


@pytest.mark.parametrize("name", ["airflow-apiserver", "mailcatcher"])
def test_ports_on_loopback_only(services, name):
    assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])


def test_only_published_ports(services):
    published = {name for name, service in services.items() if service.get("ports")}

    assert published == {"airflow-apiserver", "mailcatcher"}


# --- mounts and settings -------------------------------------------------------


def mount_target(volume: str) -> str:
    """Return the container path of a short-syntax volume, whose source may hold ``${X:-y}``."""
    path = re.sub(r":(ro|rw)$", "", volume)
    return path.rpartition(":")[2]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_mounts(services, name):
    targets = {mount_target(volume): volume for volume in services[name]["volumes"]}

    assert targets["/opt/airflow/dags"] == "./dags:/opt/airflow/dags:ro"
    assert targets["/opt/dupmon/data"] == "dupmon-data:/opt/dupmon/data"
    assert targets["/opt/dupmon/config/regions"].endswith(":ro")
    assert targets["/opt/dupmon/inbox"].endswith(":ro")
    assert "/opt/airflow/logs" in targets


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_dupmon_settings(services, name):
    env = environment(services[name])

    assert env["DUPMON_DATA_DIR"] == "/opt/dupmon/data"
    assert env["DUPMON_INBOX"] == "/opt/dupmon/inbox/{region}"
    assert env["DUPMON_REGIONS"] == "${DUPMON_REGIONS:-}"
    assert env["DUPMON_CONFIG_DIR"] == "/opt/dupmon/config/regions"
    assert env["AIRFLOW_VAR_DUPMON_PAIR_KEY_SECRET"].startswith("${DUPMON_PAIR_KEY_SECRET:?")
    assert env["AIRFLOW_VAR_DUPMON_OPERATOR_EMAIL"].startswith("${DUPMON_OPERATOR_EMAIL:?")
    assert env["AIRFLOW_CONN_SMTP_DEFAULT"].startswith("${AIRFLOW_CONN_SMTP_DEFAULT:?")


def test_named_volumes_declared(compose):
    assert set(compose["volumes"]) == {"postgres-data", "dupmon-data", "airflow-logs"}


# --- no default secret ---------------------------------------------------------


@pytest.mark.parametrize("name", SECRETS)
def test_secret_has_no_default(name):
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)

    assert uses, f"{name} is not used"
    assert all(use.startswith(":?") for use in uses), uses


def test_no_literal_password_values(services):
    for name, service in services.items():
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET", key):
                assert str(value).startswith("${"), f"{name}: {key} has a literal value"


# --- docker-compose config -------------------------------------------------------


def _compose_config(tmp_path, variables: dict) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    # Only the stand-ins: no secret of the shell or of an .env file is read.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **variables}
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file), "config"],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
    )


def test_compose_config_valid(tmp_path):
    result = _compose_config(tmp_path, TEST_ENVIRONMENT)

    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) >= set(AIRFLOW_SERVICES)
    worker_env = resolved["services"]["airflow-worker"]["environment"]
    assert worker_env["AIRFLOW__CORE__FERNET_KEY"] == TEST_ENVIRONMENT["AIRFLOW_FERNET_KEY"]


@pytest.mark.parametrize("name", REQUIRED)
def test_compose_config_requires(tmp_path, name):
    variables = {key: value for key, value in TEST_ENVIRONMENT.items() if key != name}

    result = _compose_config(tmp_path, variables)

    assert result.returncode != 0
    assert f"set {name}" in result.stderr


def _dockerfile_stages() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    return re.split(r"^(?=FROM\s)", text, flags=re.MULTILINE)[1:]


def test_dockerfile_compiles_c_modules_in_stage():
    first, last = _dockerfile_stages()

    assert first.startswith("FROM apache/airflow:3.3.2-python3.11 AS c-modules")
    assert "gcc libc6-dev" in first
    assert "--target /tmp/dupmon-built /tmp/dupmon" in first
    copy = re.search(r"cp ((?:/tmp/dupmon-built/dupmon/\S+ \\?\s*)+)/tmp/dupmon-module/", first)
    assert copy is not None
    copied = re.findall(r"/tmp/dupmon-built/dupmon/(_\w+)\.\*\.so", copy.group(1))
    # Every optional module that setup.py builds goes into the image.
    built = re.findall(r'Extension\(\s*"dupmon\.(_\w+)"', (ROOT / "setup.py").read_text())
    assert len(built) == 4
    assert sorted(copied) == sorted(built)
    assert "COPY --from=c-modules --chown=airflow:root /tmp/dupmon-module/ " in last
    assert last.rstrip().endswith("/opt/dupmon/include/dupmon/")
    assert "gcc" not in last

