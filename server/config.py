"""Server configuration from the environment (a .env file in the working directory is
loaded first; variables already set win). Every limit is named here with its default."""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.cluster import DEFAULT_CLUSTER, parse_cluster
from models.errors import ValidationError

DEFAULTS = {
    "CLUSTER": DEFAULT_CLUSTER,
    "DATA_DIR": "data",
    "TIMEZONE": "America/Sao_Paulo",
    "LOG_LEVEL": "INFO",
    "MAX_CONNECTIONS": "1024",
    "MAX_LINE_BYTES": str(1024 * 1024),
    "IDLE_TIMEOUT_S": "300",
    "LOGIN_MAX_FAILURES": "5",
    "LOGIN_LOCK_MINUTES": "15",
    "HEARTBEAT_INTERVAL_MS": "100",
    "FAILURE_TIMEOUT_MS": "500",
    "ELECTION_TIMEOUT_MS": "200",
    "REPLICATION_ACKS": "1",
    "REPLICATION_TIMEOUT_MS": "2000",
}
SECRET_FILE = "cluster-secret"
MIN_SECRET_LENGTH = 16


class ConfigError(Exception):
    """The configuration cannot work; the message says which key and why."""


@dataclass(frozen=True)
class Config:
    node_id: int
    cluster: dict[int, tuple[str, int]]
    secret: bytes
    data_dir: Path
    timezone: ZoneInfo
    log_level: str
    max_connections: int
    max_line_bytes: int
    idle_timeout_s: float
    login_max_failures: int
    login_lock_s: float
    heartbeat_ms: int = 100
    failure_ms: int = 500
    election_ms: int = 200
    replication_acks: int = 1
    replication_timeout_ms: int = 2000

    @property
    def address(self) -> tuple[str, int]:
        return self.cluster[self.node_id]

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"node-{self.node_id}.db"


def _positive_int(env: dict, key: str, minimum: int = 1) -> int:
    raw = env.get(key, DEFAULTS[key])
    if not raw.strip().isdigit() or int(raw) < minimum:
        raise ConfigError(f"{key} must be a whole number >= {minimum} (got {raw!r})")
    return int(raw)


def _secret(env: dict, cluster: dict, data_dir: Path) -> bytes:
    raw = env.get("CLUSTER_SECRET", "")
    if raw:
        if len(raw) < MIN_SECRET_LENGTH:
            raise ConfigError(f"CLUSTER_SECRET must have at least {MIN_SECRET_LENGTH} characters")
        return raw.encode()
    if len(cluster) > 1:
        raise ConfigError("CLUSTER_SECRET is required when CLUSTER names more than one node")
    # A single node signs its tokens with a secret made once and kept beside its data.
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def load_config(node_id: int, env: dict | None = None) -> Config:
    """Build the node's Config from env (default os.environ); ConfigError on any bad key."""
    env = dict(os.environ if env is None else env)
    try:
        cluster = parse_cluster(env.get("CLUSTER", DEFAULTS["CLUSTER"]))
    except ValidationError as exc:
        raise ConfigError(f"CLUSTER {exc.reason}") from None
    if node_id not in cluster:
        raise ConfigError(f"node {node_id} is not in CLUSTER ({', '.join(map(str, sorted(cluster)))})")
    try:
        timezone = ZoneInfo(env.get("TIMEZONE", DEFAULTS["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE {env.get('TIMEZONE')!r} is not a known time zone") from None
    log_level = env.get("LOG_LEVEL", DEFAULTS["LOG_LEVEL"]).upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
    data_dir = Path(env.get("DATA_DIR", DEFAULTS["DATA_DIR"]))
    return Config(
        node_id=node_id,
        cluster=cluster,
        secret=_secret(env, cluster, data_dir),
        data_dir=data_dir,
        timezone=timezone,
        log_level=log_level,
        max_connections=_positive_int(env, "MAX_CONNECTIONS"),
        max_line_bytes=_positive_int(env, "MAX_LINE_BYTES"),
        idle_timeout_s=_positive_int(env, "IDLE_TIMEOUT_S"),
        login_max_failures=_positive_int(env, "LOGIN_MAX_FAILURES"),
        login_lock_s=_positive_int(env, "LOGIN_LOCK_MINUTES") * 60,
        **_timings(env),
    )


def _timings(env: dict) -> dict:
    timings = {
        "heartbeat_ms": _positive_int(env, "HEARTBEAT_INTERVAL_MS"),
        "failure_ms": _positive_int(env, "FAILURE_TIMEOUT_MS"),
        "election_ms": _positive_int(env, "ELECTION_TIMEOUT_MS"),
        "replication_acks": _positive_int(env, "REPLICATION_ACKS", minimum=0),
        "replication_timeout_ms": _positive_int(env, "REPLICATION_TIMEOUT_MS"),
    }
    if timings["failure_ms"] <= timings["heartbeat_ms"]:
        raise ConfigError("FAILURE_TIMEOUT_MS must be longer than HEARTBEAT_INTERVAL_MS")
    return timings
