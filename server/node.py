"""What a node says about itself in ping and cluster.status. A single node is always
the coordinator of epoch 1; the cluster replaces this view with the election's."""

from models.cluster import format_address

SINGLE_NODE_EPOCH = 1


class SingleNodeView:
    def __init__(self, node_id: int, address: tuple[str, int]):
        self.node_id = node_id
        self.address = address

    def status(self) -> dict:
        return {
            "node_id": self.node_id,
            "role": "coordinator",
            "epoch": SINGLE_NODE_EPOCH,
            "coordinator_id": self.node_id,
            "nodes": [{"id": self.node_id, "address": format_address(self.address), "role": "coordinator", "alive": True}],
        }
