"""The onsell server: JSON-RPC 2.0 over TCP lines, controllers over the SQLite repositories."""
