"""Sizes of answers that the server enforces and the client checks before asking (one place for both)."""

MAX_RANKING_LIMIT = 100  # positions of best_store / best_seller
MAX_LIST_LIMIT = 1000  # sales or voids in one list
DEFAULT_RANKING_SIZE = 5  # what the menu and the scripts show when not told
DEFAULT_LIST_SIZE = 100  # sales or voids listed when not told
