"""A statement's two files: the PDF (fpdf2 with DejaVu Sans, so accented names and currency signs print) and the
CSV (through the one escaping export writer). Both are written in the statement's locale and are the same bytes
whenever they are written again from the same data (the PDF's dates are the statement's own)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Response
from flask_babel import format_date, pgettext
from fpdf import FPDF

from app.account.statement_data import StatementData
from app.account.statement_lines import account_label
from app.core.csvfile import csv_text
from app.core.storage import content_disposition

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
WIDTHS = (26, 74, 24, 28, 28)  # date, description, account, amount, balance (mm; A4 less margins is 180)
HOLDING_WIDTHS = (50, 26, 26, 26, 26, 26)


def p_(text: str, **variables) -> str:
    """A statement's words: their own context in the catalogue, apart from the same words elsewhere."""
    return pgettext("statement", text, **variables)


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
    period = p_("%(first)s to %(last)s", first=_day(data.first), last=_day(data.last))
    pdf = _Pdf(p_("Freehold statement, %(period)s", period=period))
    pdf.set_creation_date(created_at.astimezone(UTC) if created_at.tzinfo else created_at.replace(tzinfo=UTC))
    pdf.set_title(p_("Statement"))
    pdf.set_author("Freehold")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()

    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 9, p_("Statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 6, p_("Investor: %(name)s", name=investor), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, p_("Period: %(period)s", period=period), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    _heading(pdf, p_("Summary"))
    for label, value in (
        (p_("Opening balance on %(day)s", day=_day(data.first)), m(data.opening).local()),
        (p_("Money in"), m(data.money_in).local()),
        (p_("Money out"), m(data.money_out).local()),
        (p_("Closing balance on %(day)s", day=_day(data.last)), m(data.closing).local()),
        (p_("of which available"), m(data.closing_available).local()),
        (p_("of which held (withdrawals and offers in progress)"), m(data.closing_held).local()),
        (p_("Returns received"), m(data.returns).local()),
        (p_("Capital received"), m(data.capital).local()),
        (p_("Fees paid"), m(data.fees).local()),
    ):
        pdf.cell(120, 6, label)
        pdf.cell(60, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4, p_("The balances are your wallet's: the money available plus the money held for "
                           "withdrawals and offers in progress."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, p_("Movements"))
    if data.lines:
        _table(pdf, WIDTHS, (p_("Date"), p_("Description"), p_("Account"), p_("Amount"), p_("Balance")),
               [(_day(line.at), text, account_label(line.account_kind), m(line.amount).local(),
                 m(line.balance).local())
                for line, text in zip(data.lines, data.descriptions, strict=True)], money_from=3)
    else:
        pdf.cell(0, 6, p_("No movements in this period."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, p_("Holdings"))
    if data.holdings:
        _table(pdf, HOLDING_WIDTHS, (p_("Property"), p_("Cost"), p_("Returns in period"), p_("Capital in period"),
                                     p_("Returns to date"), p_("Capital to date")),
               [(h.property_title, m(h.cost, h.currency).local(), m(h.returns_in_period, h.currency).local(),
                 m(h.capital_in_period, h.currency).local(), m(h.returns_to_date, h.currency).local(),
                 m(h.capital_to_date, h.currency).local()) for h in data.holdings], money_from=1)
    else:
        pdf.cell(0, 6, p_("No holdings."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    _heading(pdf, p_("Summary per year, for your tax return"))
    _table(pdf, (40, 70, 70), (p_("Year"), p_("Returns earned"), p_("Fees paid")),
           [(str(y.year), m(y.returns).local(), m(y.fees).local()) for y in data.years], money_from=1)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)


def _table(pdf: FPDF, widths, header, rows, *, money_from: int) -> None:
    """A table whose header repeats on each page; texts wrap; the cells from `money_from` on are amounts, set to
    the right."""
    pdf.set_font(FONT, size=8)
    align = tuple("RIGHT" if i >= money_from else "LEFT" for i in range(len(widths)))
    with pdf.table(col_widths=widths, text_align=align, line_height=4.5, borders_layout="HORIZONTAL_LINES",
                   padding=1) as table:
        for cells in (header, *rows):
            row = table.row()
            for text in cells:
                row.cell(str(text))
    pdf.set_font(FONT, size=9)


def csv_bytes(data: StatementData) -> bytes:
    """Opening balance, every line (its ledger entry, description in the investor's words, amount and the running
    balance of available + held), closing balance: amounts as plain decimals for a spreadsheet."""
    header = (p_("Date (UTC)"), p_("Entry"), p_("Description"), p_("Account"), p_("Amount"), p_("Balance after"),
              p_("Currency"))
    m = data.money
    rows: list[list] = [[data.first.isoformat(), "", p_("Opening balance"), "", "", m(data.opening), data.currency]]
    for line, text in zip(data.lines, data.descriptions, strict=True):
        at = line.at if line.at.tzinfo else line.at.replace(tzinfo=UTC)
        rows.append([f"{at:%Y-%m-%d %H:%M:%S}", line.entry_id, text, account_label(line.account_kind),
                     m(line.amount), m(line.balance), data.currency])
    rows.append([data.last.isoformat(), "", p_("Closing balance"), "", "", m(data.closing), data.currency])
    return csv_text(header, rows).encode("utf-8")


def download(content: bytes, content_type: str, name: str) -> Response:
    """A statement's file for its owner: never cached by a shared cache, never sniffed as something else."""
    response = Response(content, mimetype=content_type)
    response.headers["Content-Disposition"] = content_disposition(name, inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
