import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "ru" / "LC_MESSAGES" / "django.po"


@pytest.fixture
def compiled_ru(tmp_path, settings):
    if shutil.which("msgfmt") is None:
        pytest.skip("gettext's msgfmt is not installed (make install installs it)")
    target = tmp_path / "locale" / "ru" / "LC_MESSAGES"
    target.mkdir(parents=True)
    result = subprocess.run(["msgfmt", "--check-format", "-o", str(target / "django.mo"), str(PO)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    from django.utils.translation import trans_real

    trans_real._translations = {}
    trans_real._active = trans_real.Local()
    yield
    trans_real._translations = {}


def test_russian_catalog_exists_and_compiles(compiled_ru):
    assert "msgid" in PO.read_text(encoding="utf-8")


@pytest.mark.django_db
def test_login_page_is_served_in_russian(client, compiled_ru):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ru")
    assert "<h1>Войти</h1>" in response.content.decode()
    translation.activate("en")
