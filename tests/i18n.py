"""Translation catalogs for tests: a small .po reader and the Russian catalogs compiled for a test.

The compiled .mo files are not in the repository (make run and make messages build them), so a
test that needs Russian text compiles them into its own folder.
"""

import ast
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[1] / "locale"
DOMAINS = ("django", "djangojs")


@dataclass
class Entry:
    msgid: str
    msgstrs: list[str]
    fuzzy: bool

    @property
    def translated(self) -> bool:
        return not self.fuzzy and all(self.msgstrs)


def po_entries(path: Path) -> list[Entry]:
    """The messages of a .po file, without its header and without obsolete (#~) entries."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith(("msgctxt ", "msgid ", "msgid_plural ", "msgstr")):
                current, _, value = line.partition(" ")
                fields[current] = ast.literal_eval(value)
            elif line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
        if fields.get("msgid"):
            entries.append(Entry(fields["msgid"], [v for k, v in fields.items() if k.startswith("msgstr")], fuzzy))
    return entries


@pytest.fixture
def compiled_ru(tmp_path, settings):
    """LOCALE_PATHS pointed at a folder holding the Russian catalogs, compiled from the .po files."""
    if shutil.which("msgfmt") is None:
        pytest.skip("gettext's msgfmt is not installed (make install installs it)")
    target = tmp_path / "locale" / "ru" / "LC_MESSAGES"
    target.mkdir(parents=True)
    for domain in DOMAINS:
        source = LOCALE / "ru" / "LC_MESSAGES" / f"{domain}.po"
        result = subprocess.run(["msgfmt", "--check", "-o", str(target / f"{domain}.mo"), str(source)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    # Changing LOCALE_PATHS drops Django's cached catalogs (django.test.signals), before and after.
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    yield
