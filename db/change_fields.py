"""Checking the fields of a change's data as a peer sent it: MalformedChange names the first bad one."""

import datetime as dt

from db.errors import MalformedChange
from models.changes import is_version
from models.documents import parse_cnpj
from models.errors import ValidationError
from models.people import parse_name
from models.records import parse_uuid


def checked(parse, data: dict, key: str):
    """parse(data[key]), with a ValidationError turned into MalformedChange."""
    try:
        return parse(data.get(key))
    except ValidationError as exc:
        raise MalformedChange(f"{key}: {exc.reason}") from None


def uuid_field(data: dict, key: str) -> str:
    return checked(lambda v: parse_uuid(v, key), data, key)


def name_field(data: dict) -> str:
    return checked(parse_name, data, "name")


def cnpj_field(data: dict) -> str:
    return checked(parse_cnpj, data, "cnpj")


def text_field(data: dict, key: str, max_length: int = 64) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > max_length:
        raise MalformedChange(f"{key} must be a string of at most {max_length} characters")
    return value


def version_field(data: dict, key: str) -> str:
    """A register's version (models.changes.version), or '' when absent (rows from before registers had versions)."""
    value = data.get(key, "")
    if not is_version(value):
        raise MalformedChange(f"{key} must be a version")
    return value


def time_field(data: dict, key: str) -> str:
    """An ISO 8601 timestamp as the nodes write them (runtime.clock.iso_utc)."""
    value = text_field(data, key)
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedChange(f"{key} must be an ISO timestamp") from None
    return value
