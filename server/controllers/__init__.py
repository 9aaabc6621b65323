"""One controller per area (auth, sales, reports, catalogue, cluster). Each receives its
repositories as arguments, exposes methods() for the dispatcher and returns plain data."""
