"""Cluster membership: "1=127.0.0.1:7001,2=127.0.0.1:7002" -> {1: ("127.0.0.1", 7001), ...}."""

from models.errors import ValidationError


def parse_cluster(text: str, field: str = "CLUSTER") -> dict[int, tuple[str, int]]:
    """Node id -> (host, port); raises ValidationError naming the bad entry."""
    nodes: dict[int, tuple[str, int]] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        node, sep, address = entry.partition("=")
        host, colon, port = address.rpartition(":")
        host = host.strip("[]")
        if not (sep and colon and host and f"{node}{port}".strip().isascii() and node.strip().isdigit() and port.isdigit()):
            raise ValidationError(field, f"entry {entry!r} is not id=host:port")
        node_id, port_number = int(node), int(port)
        if node_id < 1 or not 0 < port_number < 65536:
            raise ValidationError(field, f"entry {entry!r}: id must be >= 1 and port 1-65535")
        if node_id in nodes:
            raise ValidationError(field, f"node {node_id} is listed twice")
        if (host, port_number) in nodes.values():
            raise ValidationError(field, f"entry {entry!r}: another node already has that address")
        nodes[node_id] = (host, port_number)
    if not nodes:
        raise ValidationError(field, "names no node")
    return nodes


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
