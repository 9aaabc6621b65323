"""The one table of settings: every key a node or the client reads from the environment, its default
and its meaning. The server's Config, the client, the election's timing and the sign-in throttle all
take their defaults from here; README's configuration table and .env.example list exactly these keys
(tests/test_settings.py checks it).

A `.env` file in the working directory is read first by both programs; variables already set win.
"""

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SERVER, CLUSTER, CLIENT, BOTH = "server", "cluster", "client", "server, client"


@dataclass(frozen=True)
class Setting:
    key: str
    default: str | None  # as written in .env; None: no literal default (see meaning)
    used_by: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("CLUSTER", "1=127.0.0.1:7001", BOTH,
            "nodes as `id=host:port,…`; node N listens on its entry; the client needs one reachable entry"),
    Setting("CLUSTER_SECRET", None, SERVER,
            "signs tokens and peer messages; ≥ 16 characters; required with more than one node "
            "(a single node makes one once in `DATA_DIR/cluster-secret`)"),
    Setting("DATA_DIR", "data", SERVER, "node N keeps `DATA_DIR/node-N.db`"),
    Setting("TIMEZONE", "America/Sao_Paulo", BOTH, "the chain's time zone: what \"today\" is for a sale"),
    Setting("LOG_LEVEL", "INFO", SERVER, "DEBUG, INFO, WARNING or ERROR"),
    Setting("TLS_CERT", None, SERVER,
            "the node's certificate (PEM); with `TLS_KEY` and `TLS_CA` the node speaks only TLS, to tills and to peers; it must name "
            "(subjectAltName) the host the node has in `CLUSTER`, and may be one certificate shared by every node"),
    Setting("TLS_KEY", None, SERVER, "the private key of `TLS_CERT` (PEM, unencrypted; keep it 0600)"),
    Setting("TLS_CA", None, BOTH,
            "the authority's certificate (PEM): nodes accept peers whose certificate chains to it; a client with it speaks TLS and "
            "verifies the node against it (without it, plaintext)"),
    Setting("ALLOW_PLAINTEXT", "off", SERVER,
            "`on`: a node without TLS may listen on an address that is not loopback (a warning is logged); "
            "`off`: it refuses to start"),
    Setting("MAX_CONNECTIONS", "4096", SERVER,
            "connections at once (a till each); when all are taken, a new one takes the slot of the oldest that has "
            "not sent a whole request yet (closed); with every slot served, one more gets `unavailable` and is closed"),
    Setting("LISTEN_BACKLOG", "4096", SERVER,
            "connections the kernel holds while they wait to be accepted (capped by `net.core.somaxconn`): room for every "
            "till reconnecting at once after a failover"),
    Setting("MAX_LINE_BYTES", "1048576", SERVER, "longest request line; a longer one gets `line_too_long` and is closed"),
    Setting("IDLE_TIMEOUT_S", "300", SERVER, "silence (also mid-line) before a connection is closed"),
    Setting("LINE_TIMEOUT_S", "10", SERVER, "a request line must be complete this long after its first byte, however slowly it trickles"),
    Setting("MAX_CONNECTIONS_PER_IP", "512", SERVER,
            "connections at once from one address (generous: a store's tills often share one behind a NAT); 0: no limit"),
    Setting("LOGIN_MAX_FAILURES", "5", SERVER, "wrong PINs for one CPF from one address within 15 minutes before that pair is locked"),
    Setting("LOGIN_MAX_FAILURES_PER_SOURCE", "20", SERVER,
            "wrong PINs or unknown CPFs from one address within 15 minutes, whatever CPFs they name, before the address is locked"),
    Setting("LOGIN_LOCK_MINUTES", "15", SERVER, "how long a locked CPF (from that address) or address stays locked"),
    Setting("LOGIN_DELAY_MAX_S", "30", SERVER,
            "past `LOGIN_MAX_FAILURES` wrong PINs for one CPF from several addresses within 15 minutes, each attempt on it waits "
            "1 s, 2 s, 4 s… after the last, at most this long: one guess per this many seconds, and the seller waits no longer"),
    Setting("REGISTER_MAX_PER_SOURCE", "10", SERVER, "self-registrations attempted from one address within 15 minutes"),
    Setting("SELF_REGISTRATION", "on", SERVER, "`on`: a CPF with no account may register as a seller; `off`: only managers create people"),
    Setting("VOID_WINDOW_MINUTES", "30", SERVER, "how long after recording it a seller may void their own sale (managers: any time)"),
    Setting("MAX_SALE_AMOUNT", "1000000.00", SERVER, "the largest single sale, in reais (at most 1000000.00)"),
    Setting("HEARTBEAT_INTERVAL_MS", "100", CLUSTER, "how often the coordinator sends heartbeats"),
    Setting("FAILURE_TIMEOUT_MS", "500", CLUSTER, "silence after which the coordinator counts as down"),
    Setting("ELECTION_TIMEOUT_MS", "200", CLUSTER, "how long a candidate waits for an answer from a higher id"),
    Setting("REPLICATION_ACKS", "1", CLUSTER, "followers that must hold a write before it is acknowledged"),
    Setting("REPLICATION_TIMEOUT_MS", "2000", CLUSTER, "longest wait for them; then the write is acknowledged with the copies it has"),
    Setting("ANTI_ENTROPY_INTERVAL_S", "60", CLUSTER,
            "how often the coordinator compares a digest of its sales and voids with each follower's and repairs any difference"),
    Setting("REPLICATION_STRICT", "off", CLUSTER,
            "`on`: a write that would get fewer copies than `REPLICATION_ACKS` + 1 is refused with `1009` (`too_few_replicas`) "
            "instead of acknowledged"),
    Setting("STORAGE_FAILURE_STEPDOWN_S", "2", CLUSTER,
            "a node whose storage keeps failing this long leaves the coordinator's role (and claims none) until it works again"),
    Setting("REPORT_MAX_LAG_MS", "1000", CLUSTER,
            "a follower answers report methods itself while it is known to lag the coordinator by at most this long (on its own "
            "clock: the time since the coordinator last read a state this follower holds whole); else `1008`, the coordinator answers; "
            "0: followers never answer them"),
    Setting("FOLLOWER_REPORT_THREADS", "1", CLUSTER,
            "reports a follower runs at once, on threads of its own at the lowest CPU priority (nice 19 on Linux); more wait "
            "their turn: the follower's replication, and on a shared machine the coordinator, come first"),
    Setting("SNAPSHOT_CHUNK_BYTES", "1048576", CLUSTER,
            "a node with no database file copies the coordinator's (a snapshot) before it starts: the most each answer carries "
            "(base64 on the wire; at most 33554432)"),
    Setting("SNAPSHOT_WAIT_S", "30", CLUSTER,
            "a node with no database file that finds no coordinator to copy from (or whose copies keep failing) this long "
            "starts on an empty file and catches up from the log"),
    Setting("SNAPSHOT_IDLE_S", "60", CLUSTER, "a snapshot made for a peer that has not asked for it this long is removed"),
    Setting("METRICS_ADDRESS", None, SERVER,
            "off when unset; `host:port`, or `id=host:port,…` as in CLUSTER, where the node serves `/metrics` (Prometheus) and "
            "`/healthz` over HTTP; keep it on a private address"),
    Setting("STOP_TIMEOUT_MS", "1500", SERVER, "on SIGTERM or Ctrl+C, how long waiting writes may take to finish"),
    Setting("READ_CONNECTIONS", "4", SERVER,
            "database connections the node reads with at once (reports, lists, sign-ins); one more read waits for a free one"),
    Setting("PAGE_CACHE_MB", "32", SERVER,
            "memory for SQLite's page cache, shared out evenly among the writer and the `READ_CONNECTIONS` readers (the operating "
            "system caches the file besides)"),
    Setting("CLIENT_FAILOVER_TIMEOUT_MS", "5000", CLIENT,
            "how long a request may look for a coordinator before the sale is queued or the error shown"),
    Setting("ONSELL_QUEUE", None, CLIENT,
            "the seller's queue file (default `~/.local/share/onsell/queue.db`, readable only by its owner)"),
    Setting("OFFLINE_SIGNIN_HOURS", "24", CLIENT,
            "how long after signing in on a till with a server up a seller may sign in there with every node down (PIN checked "
            "against a salted hash kept beside the queue) and sell into the queue; 0: never"),
    Setting("REPORTS_FROM_FOLLOWERS", "off", CLIENT,
            "`on`: reports go to a follower in sync, with the position of this client's own latest write, and to the coordinator "
            "when the follower refuses (as `report --replica`); `off`: to the coordinator, so a report right after a sale sees it"),
    Setting("IMPORT_BATCHES_IN_FLIGHT", "4", CLIENT,
            "`import sales`: how many batches are at the server at once (checked while others are written, and written "
            "together when they wait for the same write); 1: one at a time"),
    Setting("ONSELL_CPF", None, CLIENT, "scripts: the CPF to sign in with (else asked)"),
    Setting("ONSELL_PIN", None, CLIENT, "scripts: the PIN to sign in with (else asked)"),
    Setting("ONSELL_NEW_PIN", None, CLIENT, "scripts: the new PIN for `change-pin` and `user reset-pin` (else asked twice)"),
)
BY_KEY = {s.key: s for s in SETTINGS}


class SettingError(Exception):
    """A setting cannot work; the message names the key and why (in English: it goes to the operator's log)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key} {reason}")
        self.key = key
        self.reason = reason


def default(key: str) -> str:
    value = BY_KEY[key].default
    if value is None:
        raise KeyError(f"{key} has no literal default")
    return value


def default_int(key: str) -> int:
    return int(default(key))


def environment(env: dict | None = None) -> dict:
    """A copy of the environment (or of `env`), for the readers below."""
    return dict(os.environ if env is None else env)


def text(env: dict, key: str) -> str:
    """The key's value, or its default; empty values count as unset."""
    value = env.get(key, "")
    return value if value.strip() else default(key)


def optional(env: dict, key: str) -> str | None:
    """A key of the table with no literal default: its value, or None when unset or empty."""
    if BY_KEY[key].default is not None:
        raise KeyError(f"{key} has a default: read it with text()")
    value = env.get(key, "")
    return value if value.strip() else None


def whole_number(env: dict, key: str, minimum: int = 1) -> int:
    """A whole number >= minimum; SettingError otherwise."""
    raw = text(env, key).strip()
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingError(key, f"must be a whole number >= {minimum} (got {raw!r})")
    return int(raw)


def time_zone(env: dict) -> ZoneInfo:
    """TIMEZONE as a ZoneInfo; SettingError for a zone this machine does not know."""
    raw = text(env, "TIMEZONE")
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError("TIMEZONE", f"{raw!r} is not a known time zone") from None


def switch(env: dict, key: str) -> bool:
    """`on` or `off` (also yes/no, true/false, 1/0); SettingError otherwise."""
    raw = text(env, key).strip().lower()
    if raw in ("on", "yes", "true", "1"):
        return True
    if raw in ("off", "no", "false", "0"):
        return False
    raise SettingError(key, f"must be on or off (got {raw!r})")
