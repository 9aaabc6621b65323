"""The onsell text client (Brazilian Portuguese): interactive menus and script subcommands.
It talks only JSON-RPC to the servers and never opens a database."""
