"""Files that are not statements this platform reads: each is refused with a message that says why, and nothing is
written (no statement, no line, no stored file, no audit record). Plus the parsers' corners: every supported
camt.053 version, amounts as banks write them, identical lines in one file."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import ValidationError
from app.finance import bank_statements
from app.finance.bank_models import BankStatement, CsvMapping, StatementLine
from app.finance.csv_statements import parse_amount
from app.finance.statement_lines import MAX_FILE_BYTES, StatementRejected

MINIMAL = """<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt><Stmt><Id>S</Id>
<Acct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id></Acct>
<Ntry><Amt Ccy="USD">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt>
<NtryDtls><TxDtls><RmtInf><Ustrd>hello</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"""


def minimal(version="02", amount="10.00", ind="CRDT", day="2026-12-01") -> bytes:
    return MINIMAL.format(version=version, amount=amount, ind=ind, day=day).encode()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Ntry>
<Amt Ccy="USD">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-12-01</Dt></BookgDt>
<AddtlNtryInf>&lol3;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Ntry>
<Amt Ccy="USD">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-12-01</Dt></BookgDt>
<AddtlNtryInf>&x;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>"""

CAMT_CASES = {
    "not xml": (b"this is not xml at all", "not well-formed XML"),
    "html": (b"<html><body>hi</body></html>", "not an ISO 20022 camt.053"),
    "camt.052 (a report)": (minimal().replace(b"camt.053", b"camt.052"), "not an ISO 20022 camt.053"),
    "camt.053.001.01": (minimal("01"), "not an ISO 20022 camt.053"),
    "camt.053.001.09": (minimal("09"), "not an ISO 20022 camt.053"),
    "no namespace": (minimal().replace(b' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"', b""),
                     "not an ISO 20022 camt.053"),
    "comma amount": (minimal(amount="10,00"), "cannot be read"),
    "negative amount": (minimal(amount="-10.00"), "cannot be read"),
    "zero amount": (minimal(amount="0.00"), "cannot be read"),
    "three decimals": (minimal(amount="1.005"), "cannot be read"),
    "bad indicator": (minimal(ind="CREDIT"), "cannot be read"),
    "bad date": (minimal(day="2026-13-45"), "date that cannot be read"),
    "billion laughs": (BOMB, "DTD, entities or external references"),
    "external entity": (EXTERNAL, "DTD, entities or external references"),
    "binary": (bytes(range(256)) * 4, "not well-formed XML"),
    "empty": (b"   \n", "empty"),
    "no entries": (minimal().replace(b"<Sts>BOOK</Sts>", b"<Sts>PDNG</Sts>"), "no booked entries"),
}


@pytest.fixture
def csv_mapping(app):
    with unit_of_work():
        row = CsvMapping(bank_name="Plain", date_column="Date", amount_column="Amount", reference_column="Reference",
                         counterparty_column="Name", date_format="%Y-%m-%d", decimal_separator=".", delimiter=",",
                         header_rows=1)
        from app.extensions import db

        db.session.add(row)
    return row


CSV_CASES = {
    "wrong columns": (b"Datum,Betrag,Zweck\n2026-12-01,10.00,x\n", "columns are not the ones"),
    "bad amount": (b"Date,Amount,Reference,Name\n2026-12-01,ten,x,y\n", "row 2: amount"),
    "bad date": (b"Date,Amount,Reference,Name\n01/12/2026,10.00,x,y\n", "row 2: date"),
    "short row": (b"Date,Amount,Reference,Name\n2026-12-01,10.00\n", "column 3 is missing"),
    "zero amount": (b"Date,Amount,Reference,Name\n2026-12-01,0.00,x,y\n", "greater than zero"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    "header only": (b"Date,Amount,Reference,Name\n", "no statement rows"),
    "camt given as csv": (minimal(), "columns are not the ones"),
}


def _nothing_written() -> None:
    from app.extensions import db

    assert db.session.scalar(select(func.count()).select_from(BankStatement)) == 0
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action.like("statements.%"))) == 0


@pytest.mark.parametrize("case", list(CAMT_CASES))
def test_a_foreign_or_malformed_camt053_is_refused_and_nothing_is_written(finance, case):
    data, message = CAMT_CASES[case]
    with pytest.raises(ValidationError) as refused, unit_of_work():
        bank_statements.import_statement(data, file_name="x.xml", fmt="camt053", mapping_id=None, actor=finance)
    text = refused.value.message + " " + " ".join(m for ms in (refused.value.errors or {}).values() for m in ms)
    assert message in text
    _nothing_written()


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_a_csv_that_does_not_fit_its_mapping_is_refused_and_nothing_is_written(finance, csv_mapping, case):
    data, message = CSV_CASES[case]
    with pytest.raises(StatementRejected) as refused, unit_of_work():
        bank_statements.import_statement(data, file_name="x.csv", fmt="csv", mapping_id=csv_mapping.id, actor=finance)
    text = refused.value.message + " " + " ".join(m for ms in (refused.value.errors or {}).values() for m in ms)
    assert message in text
    _nothing_written()


def test_too_large_and_unknown_format_and_no_permission_are_refused(finance, make_user):
    from app.core.errors import Forbidden

    with pytest.raises(StatementRejected, match="larger than"), unit_of_work():
        bank_statements.import_statement(b"x" * (MAX_FILE_BYTES + 1), file_name="big.xml", fmt="camt053",
                                         mapping_id=None, actor=finance)
    with pytest.raises(ValidationError, match="format"), unit_of_work():
        bank_statements.import_statement(minimal(), file_name="x", fmt="mt940", mapping_id=None, actor=finance)
    with pytest.raises(Forbidden), unit_of_work():
        bank_statements.import_statement(minimal(), file_name="x", fmt="camt053", mapping_id=None,
                                         actor=make_user(role="support"))
    _nothing_written()


@pytest.mark.parametrize("version", ["02", "03", "04", "05", "06", "07", "08"])
def test_every_supported_camt053_version_reads(finance, version):
    with unit_of_work():
        statement, created = bank_statements.import_statement(minimal(version), file_name="s.xml", fmt="camt053",
                                                              mapping_id=None, actor=finance)
    assert created and statement.line_count == 1


@pytest.mark.parametrize(("raw", "sep", "expected"), [
    ("1.234,56", ",", (123_456, False)), ("-50,00", ",", (5_000, True)), ("(12.00)", ".", (1_200, True)),
    ("1,000.50", ".", (100_050, False)), ("+7.1", ".", (710, False)), ("3.00-", ".", (300, True)),
])
def test_amounts_as_banks_write_them(raw, sep, expected):
    assert parse_amount(raw, "USD", sep) == expected


def test_identical_lines_of_one_file_are_both_kept_and_known_again_in_an_overlap(finance, csv_mapping):
    body = b"Date,Amount,Reference,Name\n2026-12-01,10.00,rent,A\n2026-12-01,10.00,rent,A\n"
    with unit_of_work():
        first, _ = bank_statements.import_statement(body, file_name="a.csv", fmt="csv", mapping_id=csv_mapping.id,
                                                    actor=finance)
    with unit_of_work():
        second, _ = bank_statements.import_statement(body + b"2026-12-02,10.00,rent,A\n", file_name="b.csv",
                                                     fmt="csv", mapping_id=csv_mapping.id, actor=finance)
    assert (first.line_count, second.line_count, second.known_count) == (2, 1, 2)


def test_the_sample_csv_reads_with_credit_and_debit_columns(finance):
    from app.extensions import db

    with unit_of_work():
        mapping = CsvMapping(bank_name="Split", date_column="1", credit_column="2", debit_column="3",
                             reference_column="4", date_format="%Y-%m-%d", decimal_separator=".", delimiter=";",
                             header_rows=0, currency="USD")
        db.session.add(mapping)
    with unit_of_work():
        statement, _ = bank_statements.import_statement(b"2026-12-01;5.00;;a\n2026-12-02;;7.25;b\n", file_name="s",
                                                        fmt="csv", mapping_id=mapping.id, actor=finance)
    lines = sorted(statement.lines, key=lambda line: line.line_index)
    assert [(line.direction, line.amount) for line in lines] == [("credit", 500), ("debit", 725)]


def test_a_file_shorter_than_its_header_is_refused(finance, csv_mapping):
    with unit_of_work():
        csv_mapping.header_rows = 3
    with pytest.raises(StatementRejected, match="shorter than its header"), unit_of_work():
        bank_statements.import_statement(b"Date,Amount,Reference,Name\n2026-12-01,1.00,x,y\n", file_name="s.csv",
                                         fmt="csv", mapping_id=csv_mapping.id, actor=finance)
    _nothing_written()
