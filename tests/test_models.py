"""Domain values: CPF, CNPJ, money, dates, people."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.cluster import parse_cluster
from models.dates import check_range, check_sale_date, parse_br_date, parse_iso_date, today_in
from models.documents import cnpj_check_digits, cpf_check_digits, format_cnpj, format_cpf, parse_cnpj, parse_cpf
from models.errors import ValidationError
from models.money import MAX_SALE_CENTS, _typed_amount, format_brl, format_cents, parse_amount, parse_typed_amount
from models.names import name_order
from models.people import parse_birth_year, parse_name, parse_pin, parse_role
from models.records import _CATALOGUE_NAMESPACE, imported_sale_id


def test_cpf_accepts_masked_and_bare():
    assert parse_cpf("123.456.789-09") == "12345678909"
    assert parse_cpf("12345678909") == "12345678909"


@pytest.mark.parametrize("bad", ["12345678900", "12345678919", "1234567890", "123456789012", "111.111.111-11",
                                 "11111111111", "abcdefghijk", "123.456.78909", "", None, 12345678909, "１２３４５６７８９０９"])
def test_cpf_rejects_bad_values(bad):
    with pytest.raises(ValidationError) as caught:
        parse_cpf(bad)
    assert caught.value.field == "cpf"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda s: len(set(s)) > 1))
def test_every_cpf_with_its_check_digits_is_valid_and_a_changed_digit_is_not(first_nine):
    valid = first_nine + cpf_check_digits(first_nine)
    assert parse_cpf(format_cpf(valid)) == valid
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    with pytest.raises(ValidationError):
        parse_cpf(wrong)


def test_cnpj_valid_masked_and_bare_and_bad_check_digits():
    assert parse_cnpj("11.222.333/0001-81") == "11222333000181"
    assert parse_cnpj("11222333000181") == "11222333000181"
    for bad in ("11222333000180", "11.222.333/0001-18", "00000000000000", "1122233300018"):
        with pytest.raises(ValidationError):
            parse_cnpj(bad)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12).filter(lambda s: len(set(s)) > 1))
def test_every_cnpj_with_its_check_digits_is_valid(first_twelve):
    valid = first_twelve + cnpj_check_digits(first_twelve)
    assert parse_cnpj(format_cnpj(valid)) == valid


@pytest.mark.parametrize("text,cents", [("10.50", 1050), ("10.5", 1050), ("10", 1000), ("0.01", 1), ("1000000.00", MAX_SALE_CENTS)])
def test_wire_amounts(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("bad", ["0", "0.00", "-1", "1e3", "NaN", "Infinity", "10.555", "1000000.01", "10,50", " 10", "",
                                 "1_000", "١٠", 10.5, 10, None, True])
def test_wire_amount_rejects(bad):
    with pytest.raises(ValidationError):
        parse_amount(bad)


@given(st.integers(min_value=1, max_value=MAX_SALE_CENTS))
def test_wire_amount_round_trips(cents):
    assert parse_amount(format_cents(cents)) == cents


@pytest.mark.parametrize("text,cents", [("10,50", 1050), ("10.50", 1050), ("R$ 10,50", 1050), ("r$10,5", 1050),
                                        ("1.234,56", 123456), ("1,234.56", 123456), ("1.234", 123400), ("1234", 123400),
                                        ("1.000.000,00", MAX_SALE_CENTS), ("R$\xa01.234,56", 123456), ("1\u202f234,56", 123456)])
def test_typed_amounts(text, cents):
    assert parse_typed_amount(text) == cents


@pytest.mark.parametrize("bad", ["", "abc", "10,555", "0", "0,00", "-5", "1.2.3", "1000000,01", ",50", "10,5,0", "1e3"])
def test_typed_amount_rejects(bad):
    with pytest.raises(ValidationError):
        parse_typed_amount(bad)


@given(st.text(alphabet="0123456789.,R$ -", max_size=14))
def test_typed_amount_fast_path_says_what_the_full_rules_say(text):
    """"1234", "1234,5", "1234.56" are read without the full rules: the same cents, or the same refusal, as with them."""
    def outcome(parse):
        try:
            return parse(text, "amount")
        except ValidationError as exc:
            return exc.field, exc.reason
    assert outcome(parse_typed_amount) == outcome(_typed_amount)


@given(st.text(max_size=12), st.text(max_size=12), st.integers(min_value=1, max_value=MAX_SALE_CENTS),
       st.dates().map(dt.date.isoformat), st.integers(min_value=1, max_value=10**8))
def test_an_imported_sale_id_is_the_uuid5_of_its_content_and_line(seller, store, cents, day, line):
    name = f"sale:{seller}|{store}|{cents}|{day}|{line}"
    assert imported_sale_id(seller, store, cents, day, line) == str(uuid.uuid5(_CATALOGUE_NAMESPACE, name))


@given(st.integers(min_value=1, max_value=MAX_SALE_CENTS))
def test_screen_money_parses_back(cents):
    assert parse_typed_amount(format_brl(cents)) == cents


def test_money_formats():
    assert format_brl(123456) == "R$ 1.234,56"
    assert format_brl(5) == "R$ 0,05"
    assert format_cents(0) == "0.00"


def test_dates():
    assert parse_iso_date("2024-02-29", "d") == dt.date(2024, 2, 29)
    assert parse_br_date("05/11/2026") == dt.date(2026, 11, 5)
    for bad in ("2026-02-30", "2026-13-01", "26-11-2026", "20261126", "2026-1-1", None, 20261126):
        with pytest.raises(ValidationError):
            parse_iso_date(bad, "d")
    for bad in ("30/02/2026", "2026-11-05", "5/11/26", ""):
        with pytest.raises(ValidationError):
            parse_br_date(bad)


def test_range_and_sale_date_rules():
    check_range(dt.date(2026, 1, 1), dt.date(2026, 1, 1))
    with pytest.raises(ValidationError) as caught:
        check_range(dt.date(2026, 1, 2), dt.date(2026, 1, 1))
    assert caught.value.field == "from"
    today = dt.date(2026, 11, 26)
    assert check_sale_date(today - dt.timedelta(days=366), today)
    for bad in (today + dt.timedelta(days=1), today - dt.timedelta(days=367)):
        with pytest.raises(ValidationError):
            check_sale_date(bad, today)


def test_today_is_the_chains_calendar_day():
    late_evening_in_sao_paulo = dt.datetime(2026, 11, 27, 2, 30, tzinfo=dt.timezone.utc)
    assert today_in(ZoneInfo("America/Sao_Paulo"), late_evening_in_sao_paulo) == dt.date(2026, 11, 26)


def test_people_values():
    assert parse_name("  Ana   Maria ") == "Ana Maria"
    assert parse_pin("0123") == "0123"
    assert parse_birth_year("1990", 2026) == 1990
    assert parse_role("manager") == "manager"
    for parse, bad in ((parse_name, "A"), (parse_name, "x" * 101), (parse_name, "Ana\x00"), (parse_pin, "123"),
                       (parse_pin, "123456789"), (parse_pin, 1234), (parse_role, "admin")):
        with pytest.raises(ValidationError):
            parse(bad)
    for bad in (1899, 2020, "19x0", True, 1990.0):
        with pytest.raises(ValidationError):
            parse_birth_year(bad, 2026)


def test_cluster_lists():
    """id=host:port entries; junk, a repeated id and two nodes on one address are refused."""
    assert parse_cluster("1=127.0.0.1:7001, 2=localhost:7002") == {1: ("127.0.0.1", 7001), 2: ("localhost", 7002)}
    for bad in ("", "1=127.0.0.1", "x=h:1", "1=h:1,1=h:2", "0=h:1", "1=h:70000", "1=h:1,2=h:1"):  # the last: one address twice
        with pytest.raises(ValidationError):
            parse_cluster(bad)


def test_names_are_ordered_as_a_reader_expects():
    """Case and accents do not count, numbers count by value: João beside Joao and before José, Loja 57 before 187."""
    names = ["José Antônio", "Loja 187", "Márcia", "João", "ATAKADAO", "Atacadão do Povo", "Loja 57", "Maria", "joão",
             "Loja", "Loja1", "2ª Loja", "Loja 2"]
    assert sorted(names, key=name_order) == ["2ª Loja", "Atacadão do Povo", "ATAKADAO", "João", "joão", "José Antônio", "Loja",
                                             "Loja1", "Loja 2", "Loja 57", "Loja 187", "Márcia", "Maria"]


@given(st.lists(st.text(alphabet="aAãÃ 0123456789ºª-", max_size=12), max_size=20))
def test_any_names_can_be_ordered(names):
    """Whatever the names (one another's prefix, digits anywhere), ordering them never compares text with a number."""
    ordered = sorted(names, key=name_order)
    assert sorted(ordered) == sorted(names)
