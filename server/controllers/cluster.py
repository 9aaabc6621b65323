"""ping and cluster.status: who this node is and what it knows of the others.

Both are public (tools and load balancers read roles, epochs and positions); the merges list, which holds
parts of CPFs, only goes to a manager's token."""

from models.people import MANAGER
from server.dispatch import TOKEN_OPTIONAL, Method


class ClusterController:
    def __init__(self, node_view):
        """node_view.status() gives this node's id, role, epoch, coordinator and peers."""
        self.node_view = node_view

    def methods(self) -> list[Method]:
        return [Method("ping", self.ping, coordinator_only=False),
                Method("cluster.status", self.status, role=TOKEN_OPTIONAL, coordinator_only=False)]

    def ping(self, caller) -> dict:
        status = self.node_view.status()
        return {key: status[key] for key in ("node_id", "role", "epoch", "coordinator_id")}

    def status(self, caller) -> dict:
        status = self.node_view.status()
        if caller is None or caller.role != MANAGER:
            status.pop("merges", None)
        return status
