"""Parameter parsers shared by controllers: each turns a raw JSON value into a domain value."""

from models.dates import parse_iso_date
from models.errors import ValidationError
from models.numbers import is_whole
from models.records import parse_uuid
from server.dispatch import Param

MAX_IMPORT_ROWS = 1000


def uuid_param(name: str) -> Param:
    return Param(name, lambda v: parse_uuid(v, name))


def optional_uuid_param(name: str) -> Param:
    return Param(name, lambda v: parse_uuid(v, name), required=False)


def date_range_params() -> tuple[Param, Param]:
    """Optional inclusive `from` and `to` dates (handler keywords start and end)."""
    return (
        Param("from", lambda v: parse_iso_date(v, "from"), required=False, keyword="start"),
        Param("to", lambda v: parse_iso_date(v, "to"), required=False, keyword="end"),
    )


def detail_param() -> Param:
    """Optional `detail` (true/false, default false): add a breakdown to a total."""
    def parse(value):
        if not isinstance(value, bool):
            raise ValidationError("detail", "must be true or false")
        return value
    return Param("detail", parse, required=False)


def limit_param(maximum: int) -> Param:
    def parse(value):
        if not is_whole(value, 1) or value > maximum:
            raise ValidationError("limit", f"must be a whole number from 1 to {maximum}")
        return value
    return Param("limit", parse, required=False)


def rows_param(maximum: int = MAX_IMPORT_ROWS) -> Param:
    """`rows` of an import: a list of 1 to `maximum` objects (each is checked by the import itself)."""
    def parse(value):
        if not isinstance(value, list) or not 1 <= len(value) <= maximum:
            raise ValidationError("rows", f"must be a list of 1 to {maximum} rows")
        return value
    return Param("rows", parse)
