"""A node's configuration, read from the environment with the defaults of runtime.settings
(the one table of keys, defaults and meanings)."""

import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from election.bully import Timing
from models.cluster import parse_cluster
from models.errors import ValidationError
from models.money import MAX_SALE_CENTS, parse_amount
from runtime import settings
from runtime.settings import SettingError, whole_number
from wire import tls
from wire.tls import TlsFiles

SECRET_FILE = "cluster-secret"
MIN_SECRET_LENGTH = 16
# Secrets printed in this project's own documents: anyone can read them, so a node refuses them.
EXAMPLE_SECRETS = frozenset({"change-me-long-secret", "change-me-to-a-long-random-string"})
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MIN_SNAPSHOT_CHUNK_BYTES = 1024
MAX_SNAPSHOT_CHUNK_BYTES = 32 * 1024 * 1024  # its base64 stays under wire.peer_link.MAX_PEER_RESPONSE_BYTES
ConfigError = SettingError  # what load_config raises: names the key and why


@dataclass(frozen=True)
class Config:
    node_id: int
    cluster: dict[int, tuple[str, int]]
    secret: bytes
    data_dir: Path
    timezone: ZoneInfo
    log_level: str
    max_connections: int
    listen_backlog: int
    line_timeout_s: float
    max_connections_per_ip: int
    max_line_bytes: int
    idle_timeout_s: float
    login_max_failures: int
    login_max_failures_per_source: int
    login_lock_s: float
    login_delay_max_s: float
    register_max_per_source: int
    stop_timeout_s: float
    timing: Timing
    replication_acks: int
    replication_timeout_ms: int
    replication_strict: bool
    storage_stepdown_s: int
    report_max_lag_ms: int = settings.default_int("REPORT_MAX_LAG_MS")
    follower_report_threads: int = settings.default_int("FOLLOWER_REPORT_THREADS")
    self_registration: bool = True
    void_window_s: float = 30 * 60
    max_sale_cents: int = MAX_SALE_CENTS
    anti_entropy_interval_s: int = settings.default_int("ANTI_ENTROPY_INTERVAL_S")
    metrics_address: tuple[str, int] | None = None  # None: no /metrics nor /healthz
    tls: TlsFiles | None = None  # None: plaintext (only on loopback unless allow_plaintext)
    allow_plaintext: bool = False
    snapshot_chunk_bytes: int = settings.default_int("SNAPSHOT_CHUNK_BYTES")
    snapshot_wait_s: int = settings.default_int("SNAPSHOT_WAIT_S")
    snapshot_idle_s: int = settings.default_int("SNAPSHOT_IDLE_S")
    read_connections: int = settings.default_int("READ_CONNECTIONS")
    page_cache_mb: int = settings.default_int("PAGE_CACHE_MB")

    @property
    def address(self) -> tuple[str, int]:
        return self.cluster[self.node_id]

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"node-{self.node_id}.db"


def _secret(env: dict, cluster: dict, data_dir: Path) -> bytes:
    raw = settings.optional(env, "CLUSTER_SECRET")
    if raw:
        if len(raw) < MIN_SECRET_LENGTH:
            raise ConfigError("CLUSTER_SECRET", f"must have at least {MIN_SECRET_LENGTH} characters")
        if raw.strip() in EXAMPLE_SECRETS:
            raise ConfigError("CLUSTER_SECRET", f"is the example from the documentation: make one with {MAKE_A_SECRET}")
        return raw.encode()
    if len(cluster) > 1:
        raise ConfigError("CLUSTER_SECRET", "is required when CLUSTER names more than one node")
    # A single node signs its tokens with a secret made once and kept beside its data, readable only by its owner.
    path = data_dir / SECRET_FILE
    try:
        if not path.exists():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError("DATA_DIR", f"cannot keep the node's secret in {path}: {exc.strerror or exc}") from None


def load_config(node_id: int, env: dict | None = None) -> Config:
    """Build the node's Config from env (default os.environ); ConfigError on any bad key."""
    env = settings.environment(env)
    try:
        cluster = parse_cluster(settings.text(env, "CLUSTER"))
    except ValidationError as exc:
        raise ConfigError("CLUSTER", exc.reason) from None
    if node_id not in cluster:
        raise ConfigError("CLUSTER", f"does not name node {node_id} (it names {', '.join(map(str, sorted(cluster)))})")
    log_level = settings.text(env, "LOG_LEVEL").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})")
    data_dir = Path(settings.text(env, "DATA_DIR"))
    tls_files = _tls(env)
    allow_plaintext = settings.switch(env, "ALLOW_PLAINTEXT")
    host = cluster[node_id][0]
    if tls_files is None and not allow_plaintext and not tls.is_loopback(host):
        raise ConfigError("ALLOW_PLAINTEXT", f"is off and node {node_id} would listen in clear on {host}, not a loopback address: "
                                             "set TLS_CERT, TLS_KEY and TLS_CA, or ALLOW_PLAINTEXT=on")
    return Config(
        node_id=node_id,
        cluster=cluster,
        secret=_secret(env, cluster, data_dir),
        data_dir=data_dir,
        timezone=settings.time_zone(env),
        log_level=log_level,
        max_connections=whole_number(env, "MAX_CONNECTIONS"),
        listen_backlog=whole_number(env, "LISTEN_BACKLOG"),
        line_timeout_s=whole_number(env, "LINE_TIMEOUT_S"),
        max_connections_per_ip=whole_number(env, "MAX_CONNECTIONS_PER_IP", minimum=0),
        max_line_bytes=whole_number(env, "MAX_LINE_BYTES"),
        idle_timeout_s=whole_number(env, "IDLE_TIMEOUT_S"),
        login_max_failures=whole_number(env, "LOGIN_MAX_FAILURES"),
        login_max_failures_per_source=whole_number(env, "LOGIN_MAX_FAILURES_PER_SOURCE"),
        login_lock_s=whole_number(env, "LOGIN_LOCK_MINUTES") * 60,
        login_delay_max_s=whole_number(env, "LOGIN_DELAY_MAX_S"),
        register_max_per_source=whole_number(env, "REGISTER_MAX_PER_SOURCE"),
        stop_timeout_s=whole_number(env, "STOP_TIMEOUT_MS") / 1000,
        timing=_timing(env),
        replication_acks=whole_number(env, "REPLICATION_ACKS", minimum=0),
        replication_timeout_ms=whole_number(env, "REPLICATION_TIMEOUT_MS"),
        replication_strict=settings.switch(env, "REPLICATION_STRICT"),
        storage_stepdown_s=whole_number(env, "STORAGE_FAILURE_STEPDOWN_S"),
        report_max_lag_ms=whole_number(env, "REPORT_MAX_LAG_MS", minimum=0),
        follower_report_threads=whole_number(env, "FOLLOWER_REPORT_THREADS"),
        self_registration=settings.switch(env, "SELF_REGISTRATION"),
        void_window_s=whole_number(env, "VOID_WINDOW_MINUTES", minimum=0) * 60,
        max_sale_cents=_max_sale(env),
        anti_entropy_interval_s=whole_number(env, "ANTI_ENTROPY_INTERVAL_S"),
        metrics_address=_metrics_address(env, node_id, cluster),
        tls=tls_files,
        allow_plaintext=allow_plaintext,
        snapshot_chunk_bytes=_snapshot_chunk(env),
        snapshot_wait_s=whole_number(env, "SNAPSHOT_WAIT_S", minimum=0),
        snapshot_idle_s=whole_number(env, "SNAPSHOT_IDLE_S"),
        read_connections=whole_number(env, "READ_CONNECTIONS"),
        page_cache_mb=whole_number(env, "PAGE_CACHE_MB"),
    )


def _snapshot_chunk(env: dict) -> int:
    """SNAPSHOT_CHUNK_BYTES: base64 makes it a third longer, and a peer's answer may not exceed MAX_PEER_RESPONSE_BYTES."""
    chunk = whole_number(env, "SNAPSHOT_CHUNK_BYTES", minimum=MIN_SNAPSHOT_CHUNK_BYTES)
    if chunk > MAX_SNAPSHOT_CHUNK_BYTES:
        raise ConfigError("SNAPSHOT_CHUNK_BYTES", f"must be at most {MAX_SNAPSHOT_CHUNK_BYTES} (got {chunk})")
    return chunk


def _metrics_address(env: dict, node_id: int, cluster: dict) -> tuple[str, int] | None:
    """METRICS_ADDRESS: empty (off), `host:port` for this node, or `id=host:port,…` as CLUSTER (a node not listed: off)."""
    raw = (settings.optional(env, "METRICS_ADDRESS") or "").strip()
    if not raw:
        return None
    try:
        addresses = parse_cluster(raw if "=" in raw else f"{node_id}={raw}", "METRICS_ADDRESS")
    except ValidationError as exc:
        raise ConfigError("METRICS_ADDRESS", exc.reason) from None
    address = addresses.get(node_id)
    if address is not None and address in cluster.values():
        raise ConfigError("METRICS_ADDRESS", f"{address[0]}:{address[1]} is a node's address in CLUSTER")
    return address


def _tls(env: dict) -> TlsFiles | None:
    """TLS_CERT, TLS_KEY and TLS_CA: all three (checked by building the contexts from them) or none."""
    paths = {key: settings.optional(env, key) for key in ("TLS_CERT", "TLS_KEY", "TLS_CA")}
    if not any(paths.values()):
        return None
    missing = [key for key, value in paths.items() if not value]
    if missing:
        raise ConfigError(missing[0], "is required with " + " and ".join(k for k, v in paths.items() if v) + " (TLS needs all three)")
    files = TlsFiles(Path(paths["TLS_CERT"]), Path(paths["TLS_KEY"]), Path(paths["TLS_CA"]))
    for key, path in zip(paths, (files.cert, files.key, files.ca)):
        if not path.is_file():
            raise ConfigError(key, f"names {path}, which is not a readable file")
    try:
        tls.client_context(files.ca)
    except (OSError, ValueError) as exc:
        raise ConfigError("TLS_CA", f"{files.ca} holds no usable CA certificate ({exc})") from None
    try:
        tls.server_context(files)
    except ssl.SSLError as exc:
        raise ConfigError("TLS_CERT", f"{files.cert} and TLS_KEY {files.key} do not make a usable certificate and key ({exc})") from None
    except OSError as exc:
        raise ConfigError("TLS_KEY", f"cannot be read with TLS_CERT ({exc.strerror or exc})") from None
    return files


def _max_sale(env: dict) -> int:
    raw = settings.text(env, "MAX_SALE_AMOUNT").strip()
    try:
        return parse_amount(raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw, "MAX_SALE_AMOUNT")
    except ValidationError as exc:
        raise ConfigError("MAX_SALE_AMOUNT", f"{exc.reason} (got {raw!r})") from None


def _timing(env: dict) -> Timing:
    timing = Timing(whole_number(env, "HEARTBEAT_INTERVAL_MS"), whole_number(env, "FAILURE_TIMEOUT_MS"),
                    whole_number(env, "ELECTION_TIMEOUT_MS"))
    if timing.failure_ms <= timing.heartbeat_ms:
        raise ConfigError("FAILURE_TIMEOUT_MS", "must be longer than HEARTBEAT_INTERVAL_MS")
    return timing
