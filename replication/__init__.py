"""Replication between nodes: authenticated peer links, the coordinator's pushes and
acknowledgements, the follower's side, and the take-over sync of a new coordinator."""
