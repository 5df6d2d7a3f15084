"""The scale-out engines of the test machine: a streaming replica and PgBouncer.

Both run beside the test cluster (``postgres://postgres@127.0.0.1:5432``, trust
authentication), from Debian's packages, in temporary folders, and stop with
their ``with`` block. Run as root, they run as the cluster's owner (PostgreSQL
and PgBouncer refuse root).

Also a command, for runs whose settings must point through PgBouncer before
Django starts::

    python -m tests.scale.engines pgbouncer --port 6440 -- pytest tests/e2e

runs the command with ``DATABASE_URL`` through PgBouncer and
``DATABASE_POOLER=pgbouncer``.
"""

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def _primary_base() -> str:
    """The test cluster: DATABASE_URL's server (MERP_TEST_PRIMARY overrides)."""
    if os.environ.get("MERP_TEST_PRIMARY"):
        return os.environ["MERP_TEST_PRIMARY"]
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme in ("postgres", "postgresql"):
        return urlunsplit(url._replace(path="", query=""))
    return "postgres://postgres@127.0.0.1:5432"


PRIMARY = _primary_base()
PLUGIN = "tests.scale.pgbouncer_plugin"
HBA_LINE = "host replication postgres 127.0.0.1/32 trust"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install the PostgreSQL server package")
    return path


def _primary(database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(f"{PRIMARY}/{database}", autocommit=True)


def _owner() -> str:
    """The cluster's owner, which the replica and PgBouncer run as."""
    with _primary() as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]
    return pwd.getpwuid(os.stat(data).st_uid).pw_name


def _as_owner(args: list[str], owner: str) -> list[str]:
    if os.geteuid() == 0 and owner != "root":
        return ["runuser", "-u", owner, "--", *args]
    return args


def _owned_tempdir(prefix: str, owner: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    entry = pwd.getpwnam(owner)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
    return path


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except psycopg.OperationalError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.2)


def allow_replication() -> None:
    """Let postgres@127.0.0.1 open replication connections (idempotent).

    The primary needs ``wal_level`` replica (Debian's default) and a pg_hba.conf
    line for the replication pseudo-database, which Debian's default file has only
    for the local socket.
    """
    with _primary() as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        if wal_level not in ("replica", "logical"):
            raise RuntimeError(
                f"the primary runs with wal_level={wal_level}: set wal_level=replica "
                "in postgresql.conf and restart it to make a streaming replica"
            )
        allowed = conn.execute(
            "SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host' "
            "AND 'replication' = ANY(database) AND auth_method = 'trust' "
            "AND ('postgres' = ANY(user_name) OR 'all' = ANY(user_name)) "
            "AND address = '127.0.0.1'"
        ).fetchone()[0]
        if allowed:
            return
        hba = conn.execute("SHOW hba_file").fetchone()[0]
        print(f"Allowing replication connections: adding '{HBA_LINE}' to {hba}")
        try:
            with open(hba, "a") as file:
                file.write(f"\n# M-ERP scale tests (tests/scale)\n{HBA_LINE}\n")
        except PermissionError:
            raise RuntimeError(
                f"cannot write {hba}: add '{HBA_LINE}' to it and reload PostgreSQL"
            ) from None
        conn.execute("SELECT pg_reload_conf()")


# Hot standby refuses to start with less than the primary has of these.
_MATCHED = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def _port_free(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(
                f"port {port} is in use: a replica or pgbouncer left by an "
                "interrupted run? (pg_ctl -D /tmp/merp-replica-*/data stop)"
            )


def _make_standby(folder: Path, port: int, owner: str) -> Path:
    with _primary() as conn:
        matched = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in _MATCHED}
    data = folder / "data"
    host, primary_port = urlsplit(PRIMARY).hostname, urlsplit(PRIMARY).port or 5432
    subprocess.run(
        _as_owner(
            [
                _pg_bin("pg_basebackup"),
                *("-h", host, "-p", str(primary_port), "-U", "postgres"),
                *("-D", str(data), "-R", "-X", "stream", "--checkpoint=fast"),
            ],
            owner,
        ),
        check=True,
    )
    # Debian keeps the configuration outside the data folder: the standby gets
    # its own.
    settings = {
        "port": port,
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{folder}'",
        "hot_standby": "on",
        "shared_buffers": "'32MB'",
        "fsync": "off",
        **matched,
    }
    (data / "postgresql.conf").write_text(
        "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    )
    for name in ("postgresql.conf", "pg_hba.conf"):
        shutil.chown(data / name, owner)
    return data


@contextlib.contextmanager
def streaming_replica(port: int = 5440) -> Iterator[str]:
    """A hot standby of the test cluster on ``port``; yields its base URL."""
    allow_replication()
    _port_free(port)
    owner = _owner()
    folder = _owned_tempdir("merp-replica-", owner)
    data = folder / "data"
    pg_ctl = _pg_bin("pg_ctl")
    url = f"postgres://postgres@127.0.0.1:{port}"
    try:
        _make_standby(folder, port, owner)
        log = folder / "replica.log"
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-l", str(log), "-w", "start"], owner),
            check=True,
        )

        def in_recovery():
            with psycopg.connect(f"{url}/postgres", connect_timeout=2) as conn:
                return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

        wait_for(in_recovery, f"the replica on port {port}")
        yield url
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], owner),
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_replay(replica_url: str, database: str, timeout: float = 30.0) -> None:
    """Wait until the replica has replayed everything the primary has written."""
    with _primary(database) as conn:
        position = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]

    def replayed():
        with psycopg.connect(f"{replica_url}/{database}", autocommit=True) as conn:
            return conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position]
            ).fetchone()[0]

    wait_for(replayed, f"the replica to replay {position}", timeout)


@contextlib.contextmanager
def pgbouncer(port: int = 6440, upstream: str = PRIMARY) -> Iterator[str]:
    """PgBouncer in transaction pooling mode on ``port``; yields its base URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        raise RuntimeError("pgbouncer not found: apt-get install pgbouncer")
    _port_free(port)
    owner = _owner()
    folder = _owned_tempdir("merp-pgbouncer-", owner)
    target = urlsplit(upstream)
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={target.hostname} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        "admin_users = postgres\n"
        f"auth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 1000\n"
        "default_pool_size = 20\n"
        "max_db_connections = 40\n"
        "server_reset_query =\n"
        # Test databases are created and dropped: idle server connections to
        # them are closed quickly so a DROP DATABASE does not wait on them.
        "server_idle_timeout = 5\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
        f"pidfile = {folder / 'pgbouncer.pid'}\n"
    )
    for name in ("userlist.txt", "pgbouncer.ini"):
        shutil.chown(folder / name, owner)
    process = subprocess.Popen(
        _as_owner([binary, str(folder / "pgbouncer.ini")], owner),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgres://postgres@127.0.0.1:{port}"
    try:

        def answers():
            if process.poll() is not None:
                raise RuntimeError(
                    "pgbouncer exited: "
                    + (folder / "pgbouncer.log").read_text(errors="replace")
                )
            with psycopg.connect(f"{url}/postgres", connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone()[0]

        wait_for(answers, f"pgbouncer on port {port}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def through(base_url: str, database_url: str) -> str:
    """``database_url`` with ``base_url``'s host and port (same database)."""
    base, url = urlsplit(base_url), urlsplit(database_url)
    return urlunsplit(url._replace(netloc=base.netloc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["pgbouncer"])
    parser.add_argument("--port", type=int, default=6440)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    database_url = os.environ.get("DATABASE_URL", f"{PRIMARY}/merp")
    with pgbouncer(args.port) as url:
        env = {
            **os.environ,
            "DATABASE_URL": through(url, database_url),
            "DATABASE_POOLER": "pgbouncer",
            # The plugin is imported before pytest puts the rootdir on the path.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
            ),
            "PYTEST_ADDOPTS": f"{os.environ.get('PYTEST_ADDOPTS', '')} -p {PLUGIN}",
        }
        print(f"DATABASE_URL={env['DATABASE_URL']} (pgbouncer, transaction mode)")
        sys.stdout.flush()
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
