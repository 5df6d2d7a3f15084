"""A throw-away Redis Cluster of three masters from Debian's redis-server.

Used by the ``redis_cluster`` fixture (tests/events/test_cluster.py) and by
``make test-cluster``, which runs the events suite against one:

    python -m tests.rediscluster --ports 7101,7102,7103 -- pytest tests/events

starts the cluster in a temporary folder, runs the command with
``MERP_EVENT_REDIS_URL=redis+cluster://127.0.0.1:<first port>`` (and
``CACHE_REDIS_URL`` the same) in its environment, stops the cluster and exits
with the command's status. Each node also uses its port + 10000 (cluster bus).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

DEFAULT_PORTS = (7101, 7102, 7103)


class RedisClusterProcesses:
    """Three redis-server processes joined into one cluster (no replicas)."""

    def __init__(self, ports=DEFAULT_PORTS, *, folder: Path | None = None):
        self.ports = tuple(ports)
        self._own_folder = folder is None
        self.folder = Path(folder or tempfile.mkdtemp(prefix="merp-redis-cluster-"))
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, *, timeout: float = 60) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if not server or not cli:
            raise RuntimeError("redis-server and redis-cli are needed on PATH")
        try:
            for port in self.ports:
                node = self.folder / str(port)
                node.mkdir(parents=True, exist_ok=True)
                self.processes.append(
                    subprocess.Popen(
                        [
                            server,
                            "--port",
                            str(port),
                            "--bind",
                            "127.0.0.1",
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            str(node / "nodes.conf"),
                            "--cluster-node-timeout",
                            "5000",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            str(node),
                        ],  # fmt: skip
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for port in self.ports:
                _wait(lambda p=port: _ping(p), timeout, f"redis-server on port {port}")
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{port}" for port in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
            )
            for port in self.ports:
                _wait(
                    lambda p=port: _cluster_ok(p),
                    timeout,
                    f"cluster_state:ok on port {port}",
                )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        self.processes.clear()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "RedisClusterProcesses":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _ping(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
    except redis.ConnectionError:
        return False


def _cluster_ok(port: int) -> bool:
    try:
        info = redis.Redis(port=port, socket_connect_timeout=0.2).cluster("info")
    except redis.RedisError:
        return False
    state = info.get("cluster_state") if isinstance(info, dict) else None
    if state is None:
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text
    return state in ("ok", b"ok")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out waiting for {what}")
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.rediscluster")
    parser.add_argument(
        "--ports",
        default=",".join(map(str, DEFAULT_PORTS)),
        help="Comma-separated ports of the three masters.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    ports = [int(port) for port in args.ports.split(",")]
    with RedisClusterProcesses(ports) as cluster:
        print(f"Redis Cluster up: {cluster.url}", flush=True)
        env = {
            **os.environ,
            "MERP_EVENT_REDIS_URL": cluster.url,
            "CACHE_REDIS_URL": cluster.url,
        }
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
