"""CSV that a spreadsheet cannot run (CSV or formula injection).

A text cell that begins with =, +, -, @, a tab or a carriage return is taken as a formula by
Excel, LibreOffice and Google Sheets (=HYPERLINK(...) in an individual's name runs in another
organisation's spreadsheet). Such text cells get a leading single quote, which spreadsheets show
as text. The rule applies to strings only: real numbers stay numbers, so a negative longitude
written from a float is still -74.6, while a text that merely looks like one ("-12" as a station
code) is text that a user supplied and is quoted.
"""

import csv
from typing import Any, Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """The value, with a leading ' if it is a string that a spreadsheet would start as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer whose rows go through spreadsheet_safe."""

    def __init__(self, fh, **kwargs):
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([spreadsheet_safe(v) for v in row])


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter whose values go through spreadsheet_safe (the header is ours, left alone)."""

    def writerow(self, rowdict):
        return super().writerow({k: spreadsheet_safe(v) for k, v in rowdict.items()})
