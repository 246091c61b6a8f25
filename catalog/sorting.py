"""List orderings picked by ?sort= from a fixed table, so the user's text never reaches order_by."""

from __future__ import annotations

from typing import NamedTuple

from django.http import HttpRequest


class Sort(NamedTuple):
    label: str
    ordering: tuple  # order_by() arguments


def chosen_sort(request: HttpRequest, sorts: dict[str, Sort], default: str) -> tuple[str, str]:
    """(the key of `sorts` to apply, the unknown ?sort= value asked for or ""): an unknown value
    falls back to `default`; the caller decides whether to say so."""
    asked = request.GET.get("sort", "")
    if asked in sorts:
        return asked, ""
    return default, asked
