"""What repositories raise when the data forbids a write."""


class AlreadyExists(Exception):
    """A unique key (CPF, CNPJ, network name) is taken."""


class SaleConflict(Exception):
    """A sale_id is already stored with other content."""


class MalformedChange(ValueError):
    """A change from a peer that is not well formed; the batch is refused."""
