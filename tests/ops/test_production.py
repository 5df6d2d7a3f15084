"""The Procfile, docker-compose.yml and `make run`, run as a user would run them."""

import json
import shlex
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from businessobjects import diagnostics

from .conftest import ROOT, free_port, wait_for


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def http_get(url: str) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None


def test_procfile_declares_web_worker_beat():
    processes = procfile()
    assert set(processes) == {"release", "web", "worker", "beat"}
    assert processes["web"].startswith("gunicorn merp.wsgi ")
    assert processes["worker"].startswith("celery -A merp worker")
    assert processes["beat"].startswith("celery -A merp beat")
    # collectstatic: WhiteNoise serves the admin's and the docs' files from
    # STATIC_ROOT (the Docker image runs it at build time instead).
    assert processes["release"].split(" && ") == [
        "python manage.py migrate --noinput",
        "python manage.py collectstatic --noinput",
    ]


def test_compose_runs_the_procfile_processes_with_postgres_and_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    processes = procfile()
    web = processes["web"].replace("${PORT:-8000}", "8000")
    assert services["web"]["command"] == web
    assert services["worker"]["command"] == processes["worker"]
    assert services["beat"]["command"].startswith(processes["beat"])
    assert services["migrate"]["command"] == "python manage.py migrate --noinput"
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["DEBUG"] == "false"
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("requirements.txt") == 2
    assert "RUN python manage.py collectstatic --noinput" in dockerfile


@pytest.mark.slow
def test_procfile_web_serves_health(process_env, start_process):
    port = free_port()
    env = {**process_env, "PORT": str(port), "REDIS_URL": ""}
    web = start_process(procfile()["web"], env=env, shell=True)
    base = f"http://127.0.0.1:{port}"
    status, body = wait_for(lambda: http_get(f"{base}/health/"), "gunicorn")
    assert (status, body) == (200, {"status": "ok", "checks": {}})
    status, body = http_get(f"{base}/health/ready/")
    assert status == 200, body
    assert body["checks"]["database"]["status"] == "ok"
    assert "gunicorn" in web.group_commands()


@pytest.mark.slow
def test_procfile_worker_and_beat_make_the_doctor_pass(
    process_env, start_process, tmp_path
):
    processes = procfile()
    worker = start_process(processes["worker"], env=process_env, shell=True)
    # beat writes its schedule file into the working directory.
    beat = start_process(processes["beat"], env=process_env, cwd=tmp_path, shell=True)
    wait_for(
        lambda: diagnostics.celery_workers().status == diagnostics.PASS,
        f"the worker to answer:\n{worker.output}",
    )
    wait_for(lambda: "beat: Starting" in beat.output, f"beat:\n{beat.output}")
    doctor = subprocess.run(
        [*shlex.split("python manage.py merp_doctor")],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "PASS  celery            1 worker(s) answered" in doctor.stdout
    assert not [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]


@pytest.mark.slow
@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "no-redis"])
def test_make_run(process_env, start_process, with_redis):
    port = free_port()
    env = {**process_env, "REDIS_URL": process_env["REDIS_URL"] if with_redis else ""}
    run = start_process(["make", "run", f"RUN_ADDR=127.0.0.1:{port}"], env=env)
    wait_for(
        lambda: http_get(f"http://127.0.0.1:{port}/health/"),
        f"make run to serve:\n{run.output}",
        timeout=180,
    )
    assert "acme_admin" in run.output  # the demo data was seeded
    for page in ("admin/", "api/docs/", "api/redoc/"):
        assert f"http://127.0.0.1:{port}/{page}" in run.output
    if with_redis:
        wait_for(
            lambda: diagnostics.celery_workers().status == diagnostics.PASS,
            f"make run's worker:\n{run.output}",
        )
        wait_for(lambda: "beat: Starting" in run.output, f"beat:\n{run.output}")
        commands = run.group_commands()
        assert "celery -A merp worker" in commands
        assert "celery -A merp beat" in commands
    else:
        assert "celery" not in run.group_commands()
    run.stop(signal.SIGINT)  # Ctrl-C
    assert run.popen.returncode is not None
    assert "celery" not in run.group_commands()
