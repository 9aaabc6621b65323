"""The one error type that every domain parser raises."""


class ValidationError(ValueError):
    """A value that is not acceptable, naming the field and a short reason."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
