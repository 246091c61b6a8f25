import os
import re
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tests.i18n import DOMAINS, LOCALE, compiled_ru, po_entries  # noqa: F401 (compiled_ru is a fixture)


@pytest.mark.parametrize("domain", DOMAINS)
def test_russian_catalog_has_no_untranslated_or_fuzzy_message(domain):
    entries = po_entries(LOCALE / "ru" / "LC_MESSAGES" / f"{domain}.po")
    assert entries, "the catalog is empty"
    left = [e.msgid for e in entries if not e.translated]
    assert left == [], f"{len(left)} Russian {domain} messages untranslated or fuzzy (make messages, then translate)"


def test_russian_plurals_have_the_three_russian_forms():
    for domain in DOMAINS:
        path = LOCALE / "ru" / "LC_MESSAGES" / f"{domain}.po"
        assert '"Plural-Forms: nplurals=3;' in path.read_text(encoding="utf-8")
        plurals = [e for e in po_entries(path) if len(e.msgstrs) > 1]
        assert all(len(e.msgstrs) == 3 for e in plurals), [e.msgid for e in plurals if len(e.msgstrs) != 3]


def test_only_languages_at_least_95_percent_translated_are_offered():
    for code, _name in settings.LANGUAGES:
        if code == settings.LANGUAGE_CODE == "en":
            continue  # the source language
        for domain in DOMAINS:
            path = LOCALE / translation.to_locale(code) / "LC_MESSAGES" / f"{domain}.po"
            assert path.exists(), f"{code} is offered but has no {domain} catalog"
            entries = po_entries(path)
            share = sum(e.translated for e in entries) / len(entries)
            assert share >= 0.95, f"{code} is offered but its {domain} catalog is only {share:.0%} translated"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext's xgettext is not installed (make install installs it)")
def test_russian_catalogs_hold_every_message_of_the_code(tmp_path):
    # makemessages (as make messages runs it) in a copy of the tree: a message the code has and
    # the catalog lacks was never extracted, so it would show in English.
    tree = tmp_path / "tree"
    shutil.copytree(LOCALE.parent, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "staticfiles", "media", "docs", "__pycache__", "*.mo"))
    for domain in DOMAINS:
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "ru", "-d", domain, "--no-obsolete",
             "--ignore=.venv", "--ignore=staticfiles", "--ignore=var"],
            cwd=tree, check=True, capture_output=True, env={**os.environ, "SLREID_TESTING": "1"},
        )
        fresh = {e.msgid for e in po_entries(tree / "locale" / "ru" / "LC_MESSAGES" / f"{domain}.po")}
        stored = {e.msgid for e in po_entries(LOCALE / "ru" / "LC_MESSAGES" / f"{domain}.po")}
        assert sorted(fresh - stored) == [], f"messages missing from the {domain} catalog (run make messages, translate)"


# Pages a visitor and a partner land on: the language switch must be on each of them.
PAGES_LOGGED_OUT = ["login"]
PAGES_LOGGED_IN = ["home", "map", "individual_list", "station_list", "setup_home", "submit", "my_sightings",
                   "review_queue", "imports", "exports", "population", "notification_list"]


def _switch(html: str) -> str:
    match = re.search(r'<form method="post" action="/i18n/setlang/" class="language-switch">(.*?)</form>', html, re.S)
    assert match, "no language switch on the page"
    return match.group(1)


@pytest.mark.django_db
def test_every_page_offers_the_language_switch(client, alice):
    for name in PAGES_LOGGED_OUT + [None] + PAGES_LOGGED_IN:
        if name is None:
            client.force_login(alice)
            continue
        url = reverse(name)
        response = client.get(url)
        assert response.status_code == 200, name
        switch = _switch(response.content.decode())
        assert 'name="csrfmiddlewaretoken"' in switch, name
        assert f'name="next" type="hidden" value="{url}"' in switch, name
        assert '<option value="ru" lang="ru">Русский</option>' in switch, name
        assert '<input type="submit"' in switch, name  # works without JavaScript


@pytest.mark.django_db
def test_switching_to_russian_serves_the_next_pages_in_russian(client, alice, compiled_ru):
    client.force_login(alice)
    response = client.post(reverse("set_language"), {"language": "ru", "next": reverse("map")})
    assert response.status_code == 302 and response["Location"] == reverse("map")
    html = client.get(reverse("home")).content.decode()
    assert '<html lang="ru">' in html
    nav = re.search(r'<nav class="mainnav">(.*?)</nav>', html, re.S).group(1)
    for word in ("Главная", "Карта", "Особи", "Мои наблюдения", "Проверка"):
        assert word in nav
    assert "Home" not in nav
    assert '<option value="ru" lang="ru" selected>' in _switch(html)
    translation.activate("en")


@pytest.mark.django_db
def test_the_script_catalog_speaks_russian_with_russian_plurals(client, compiled_ru):
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    script = client.get(reverse("javascript-catalog")).content.decode()
    assert "\\u0424\\u043e\\u0442\\u043e\\u043b\\u043e\\u0432\\u0443\\u0448\\u043a\\u0438" in script or "Фотоловушки" in script
    # The three Russian forms: 1 наблюдение, 2 наблюдения, 5 наблюдений.
    assert "n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2" in script
    translation.activate("en")


@pytest.mark.django_db
def test_login_page_is_served_in_russian(client, compiled_ru):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ru")
    assert "<h1>Войти</h1>" in response.content.decode()
    translation.activate("en")
