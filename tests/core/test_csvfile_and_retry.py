"""The one CSV writer never lets a spreadsheet run a cell; the one backoff schedule doubles up to its cap."""
import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from app.core.csvfile import csv_text, escape_cell
from app.core.retry import backoff_seconds


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_cell_that_starts_like_a_formula_is_written_as_text(hostile):
    assert escape_cell(hostile) == "'" + hostile
    row = next(csv.reader(io.StringIO(csv_text(None, [[hostile]]))))
    assert row == ["'" + hostile]


def test_plain_cells_header_and_line_endings():
    text = csv_text(["id", "name"], [[1, "Ada, \"the\" first"], [2, None]])
    assert text == 'id,name\r\n1,"Ada, ""the"" first"\r\n2,\r\n'
    assert escape_cell(1250) == "1250" and escape_cell("12.50") == "12.50"


def test_backoff_doubles_from_its_base_up_to_its_cap():
    assert [backoff_seconds(n, jitter=0) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff_seconds(0, jitter=0) == 30
    assert backoff_seconds(3, base=10, cap=25, jitter=0) == 25
    for attempt in range(1, 6):
        plain = backoff_seconds(attempt, jitter=0)
        assert plain <= backoff_seconds(attempt) <= plain * 1.1


def test_xlsx_export_escapes_text_like_the_csv_and_keeps_numbers_numeric():
    from app.core.csvfile import export_response, xlsx_bytes

    data = xlsx_bytes(["name", "=header"], [["=HYPERLINK(\"http://evil\")", Decimal("-12.50"), 7, "-3", None]])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["name", "'=header"]
    assert rows[1][0] == "'=HYPERLINK(\"http://evil\")"  # text, never a formula
    assert rows[1][1] == -12.5 and rows[1][2] == 7  # numbers we hold stay numbers
    assert rows[1][3] == "'-3"  # a text that looks like a negative number is escaped, as in the CSV
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

    with pytest.raises(ValueError):
        export_response("pdf", None, [], "x")
