"""A statement's two files: the PDF (fpdf2 with DejaVu Sans, so accented names and currency signs print) and the
CSV (through the one escaping export writer). Both are written in the statement's locale and are the same bytes
whenever they are written again from the same data (the PDF's dates are the statement's own)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Response
from flask_babel import format_date
from flask_babel import gettext as _
from fpdf import FPDF

from app.account.statement_data import StatementData
from app.account.statement_lines import account_label, describe_lines
from app.core.csvfile import csv_text
from app.core.storage import content_disposition

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
WIDTHS = (26, 78, 22, 27, 27)  # date, description, account, amount, balance (mm; A4 less margins is 180)
HOLDING_WIDTHS = (58, 24, 24, 24, 25, 25)


class _Pdf(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")


def _day(value) -> str:
    return format_date(value, format="medium")


def pdf_bytes(data: StatementData, investor: str, created_at: datetime) -> bytes:
    m = data.money
    period = _("%(first)s to %(last)s", first=_day(data.first), last=_day(data.last))
    pdf = _Pdf(_("Freehold statement, %(period)s", period=period))
    pdf.set_creation_date(created_at.astimezone(UTC) if created_at.tzinfo else created_at.replace(tzinfo=UTC))
    pdf.set_title(_("Statement"))
    pdf.set_author("Freehold")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()

    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 9, _("Statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 6, _("Investor: %(name)s", name=investor), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, _("Period: %(period)s", period=period), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    _heading(pdf, _("Summary"))
    for label, value in (
        (_("Opening balance on %(day)s", day=_day(data.first)), m(data.opening).local()),
        (_("Money in"), m(data.money_in).local()),
        (_("Money out"), m(data.money_out).local()),
        (_("Closing balance on %(day)s", day=_day(data.last)), m(data.closing).local()),
        (_("of which available"), m(data.closing_available).local()),
        (_("of which held (withdrawals and offers in progress)"), m(data.closing_held).local()),
        (_("Returns received"), m(data.returns).local()),
        (_("Capital received"), m(data.capital).local()),
        (_("Fees paid"), m(data.fees).local()),
    ):
        pdf.cell(120, 6, label)
        pdf.cell(60, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4, _("The balances are your wallet's: the money available plus the money held for "
                           "withdrawals and offers in progress."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, _("Movements"))
    _row(pdf, WIDTHS, (_("Date"), _("Description"), _("Account"), _("Amount"), _("Balance")), money_from=3,
         bold=True)
    for line, text in zip(data.lines, describe_lines(data.user_id, data.lines)):
        _row(pdf, WIDTHS, (_day(line.at), text, account_label(line.account_kind), m(line.amount).local(),
                           m(line.balance).local()), money_from=3)
    if not data.lines:
        pdf.cell(0, 6, _("No movements in this period."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, _("Holdings"))
    _row(pdf, HOLDING_WIDTHS, (_("Property"), _("Cost"), _("Returns in period"), _("Capital in period"),
                               _("Returns to date"), _("Capital to date")), money_from=1, bold=True)
    for h in data.holdings:
        _row(pdf, HOLDING_WIDTHS, (h.property_title, m(h.cost, h.currency).local(),
                                   m(h.returns_in_period, h.currency).local(),
                                   m(h.capital_in_period, h.currency).local(),
                                   m(h.returns_to_date, h.currency).local(),
                                   m(h.capital_to_date, h.currency).local()), money_from=1)
    if not data.holdings:
        pdf.cell(0, 6, _("No holdings."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, _("Summary per year, for your tax return"))
    _row(pdf, (40, 70, 70), (_("Year"), _("Returns earned"), _("Fees paid")), money_from=1, bold=True)
    for y in data.years:
        _row(pdf, (40, 70, 70), (str(y.year), m(y.returns).local(), m(y.fees).local()), money_from=1)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)


def _row(pdf: FPDF, widths, cells, *, money_from: int, bold: bool = False) -> None:
    """One line of a table; the cells from `money_from` on are amounts, set to the right."""
    pdf.set_font(FONT, "B" if bold else "", 8 if bold else 9)
    for i, (width, text) in enumerate(zip(widths, cells)):
        value = str(text)
        while len(value) > 1 and pdf.get_string_width(value) > width - 2:  # one line per row: cut a long text
            value = value[:-2] + "…"
        pdf.cell(width, 6, value, align="R" if i >= money_from else "L")
    pdf.ln(6)


def csv_bytes(data: StatementData) -> bytes:
    """Opening balance, every line (its ledger entry, description in the investor's words, amount and the running
    balance of available + held), closing balance: amounts as plain decimals for a spreadsheet."""
    header = (_("Date (UTC)"), _("Entry"), _("Description"), _("Account"), _("Amount"), _("Balance after"),
              _("Currency"))
    m = data.money
    rows: list[list] = [[data.first.isoformat(), "", _("Opening balance"), "", "", m(data.opening), data.currency]]
    for line, text in zip(data.lines, describe_lines(data.user_id, data.lines)):
        at = line.at if line.at.tzinfo else line.at.replace(tzinfo=UTC)
        rows.append([f"{at:%Y-%m-%d %H:%M:%S}", line.entry_id, text, account_label(line.account_kind),
                     m(line.amount), m(line.balance), data.currency])
    rows.append([data.last.isoformat(), "", _("Closing balance"), "", "", m(data.closing), data.currency])
    return csv_text(header, rows).encode("utf-8")


def download(content: bytes, content_type: str, name: str) -> Response:
    """A statement's file for its owner: never cached by a shared cache, never sniffed as something else."""
    response = Response(content, mimetype=content_type)
    response.headers["Content-Disposition"] = content_disposition(name, inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
