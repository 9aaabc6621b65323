"""What travels between processes: the JSON-RPC line codec (pure), the error catalogue,
the blocking line socket, and the authenticated links between nodes.

Used alike by the server, the client and replication; imports only models/ and runtime/."""
