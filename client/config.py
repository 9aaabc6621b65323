"""The client's settings, read once at start with the readers and defaults of runtime.settings
(the one table of keys: README's configuration table lists the same). A value that cannot work
is a ClientConfigError: one Portuguese line naming the key, and the client exits with status 2,
as a node refuses to start."""

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from client import views
from models.cluster import parse_cluster
from models.errors import ValidationError
from runtime import settings
from runtime.settings import SettingError, optional
from wire import tls


class ClientConfigError(Exception):
    """A setting (or --servers) cannot work; str() is one Portuguese line that names it."""


@dataclass(frozen=True)
class ClientConfig:
    servers: dict[int, tuple[str, int]]
    timezone: ZoneInfo
    failover_timeout_s: float
    queue_path: Path
    cpf: str | None  # ONSELL_CPF: scripts sign in without being asked
    pin: str | None  # ONSELL_PIN
    new_pin: str | None = None  # ONSELL_NEW_PIN: change-pin and user reset-pin
    tls: ssl.SSLContext | None = None  # from TLS_CA: speak TLS and verify the nodes against it; None: plaintext
    reports_from_followers: bool = False  # REPORTS_FROM_FOLLOWERS: reports to a follower in sync (client/api.py)
    import_in_flight: int = 4  # IMPORT_BATCHES_IN_FLIGHT: batches of `import sales` at the server at once


def queue_path(env: dict) -> Path:
    """ONSELL_QUEUE, else queue.db in the user's data directory ($XDG_DATA_HOME or ~/.local/share)."""
    explicit = optional(env, "ONSELL_QUEUE")
    if explicit:
        return Path(explicit)
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "onsell" / "queue.db"


def load_client_config(env: dict | None = None, servers_option: str | None = None) -> ClientConfig:
    """The client's settings from env (default os.environ); --servers, when given, replaces CLUSTER."""
    env = settings.environment(env)
    return ClientConfig(
        servers=_servers(env, servers_option),
        timezone=_time_zone(env),
        failover_timeout_s=_milliseconds(env, "CLIENT_FAILOVER_TIMEOUT_MS") / 1000,
        queue_path=queue_path(env),
        cpf=optional(env, "ONSELL_CPF"),
        pin=optional(env, "ONSELL_PIN"),
        new_pin=optional(env, "ONSELL_NEW_PIN"),
        tls=tls_context(env),
        reports_from_followers=_switch(env, "REPORTS_FROM_FOLLOWERS"),
        import_in_flight=_batches(env, "IMPORT_BATCHES_IN_FLIGHT"),
    )


SERVERS_FORM = "use id=host:porta separados por vírgula (exemplo: 1=127.0.0.1:7001), id a partir de 1, porta de 1 a 65535, sem repetir"


def tls_context(env: dict) -> ssl.SSLContext | None:
    """TLS_CA as a client context (the nodes' chain and host name are checked against it); None without it."""
    ca = optional(env, "TLS_CA")
    if ca is None:
        return None
    try:
        return tls.client_context(Path(ca))
    except (OSError, ValueError) as exc:
        detail = views.os_error(exc) if isinstance(exc, OSError) and exc.errno else "não é um certificado PEM"
        raise ClientConfigError(f"configuração inválida: TLS_CA {ca!r}: não foi possível ler o certificado da autoridade "
                                f"({detail}).") from None


def _servers(env: dict, servers_option: str | None) -> dict[int, tuple[str, int]]:
    # parse_cluster's reasons are English (for the operator's log): the client says the rule in Portuguese instead
    if servers_option:
        try:
            return parse_cluster(servers_option, "--servers")
        except ValidationError:
            raise ClientConfigError(f"lista de servidores inválida em --servers: {SERVERS_FORM}.") from None
    try:
        return parse_cluster(settings.text(env, "CLUSTER"))
    except ValidationError:
        raise ClientConfigError(f"configuração inválida: CLUSTER: {SERVERS_FORM}.") from None


def _setting(env: dict, key: str, read: Callable[[dict, str], Any], expected: str) -> Any:
    """read(env, key), or one Portuguese line saying what the value should be."""
    try:
        return read(env, key)
    except SettingError:
        raw = settings.text(env, key).strip()
        raise ClientConfigError(f"configuração inválida: {key} {raw!r} {expected}.") from None


def _time_zone(env: dict) -> ZoneInfo:
    return _setting(env, "TIMEZONE", lambda env, key: settings.time_zone(env), "não é um fuso horário conhecido")


def _milliseconds(env: dict, key: str) -> int:
    return _setting(env, key, settings.whole_number, "deve ser um número inteiro de milissegundos, maior que zero")


def _switch(env: dict, key: str) -> bool:
    return _setting(env, key, settings.switch, "deve ser on ou off")


def _batches(env: dict, key: str) -> int:
    return _setting(env, key, settings.whole_number, "deve ser um número inteiro de lotes, maior que zero")
