"""What repositories raise when the data forbids a write."""


class AlreadyExists(Exception):
    """A unique key (CPF, CNPJ, network name) is taken; `field` names it."""

    def __init__(self, message: str, field: str = "cpf"):
        super().__init__(message)
        self.field = field


class NotFound(Exception):
    """The row a write is about does not exist (or no longer stands for itself); `field` names the parameter."""

    def __init__(self, field: str):
        super().__init__(f"no such {field}")
        self.field = field


class SaleConflict(Exception):
    """A sale_id is already stored with other content."""


class MalformedChange(ValueError):
    """A change from a peer that is not well formed; the batch is refused."""
