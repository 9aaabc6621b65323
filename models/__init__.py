"""Domain values of onsell and their validation: documents, money, dates, roles.

Every parser here raises ValidationError(field, reason) on bad input and never
returns a half-valid value, so the server and the client share one definition
of what a valid CPF, amount or date is.
"""

from models.errors import ValidationError

__all__ = ["ValidationError"]
