"""Every user-visible string is translated to Spanish and English, and the compiled
catalogs the app loads say the same as the sources translators edit."""

import gettext

import polib
import pytest
from django.conf import settings

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


def _catalog(code: str) -> polib.POFile:
    path = settings.BASE_DIR / "locale" / code / "LC_MESSAGES" / "django.po"
    assert path.exists(), f"missing catalog {path}"
    return polib.pofile(str(path))


@pytest.mark.parametrize("code", LANGUAGE_CODES)
def test_catalog_has_every_string_translated(code):
    catalog = _catalog(code)
    assert len(catalog) > 50
    untranslated = [entry.msgid for entry in catalog.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalog.fuzzy_entries()]
    assert untranslated == [], f"{code}: untranslated strings: {untranslated[:20]}"
    assert fuzzy == [], f"{code}: fuzzy strings need review: {fuzzy[:20]}"


@pytest.mark.parametrize("code", LANGUAGE_CODES)
def test_compiled_catalog_matches_its_source(code):
    source = _catalog(code)
    mo_path = settings.BASE_DIR / "locale" / code / "LC_MESSAGES" / "django.mo"
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in source.translated_entries():
        if entry.msgid_plural:
            continue
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if compiled._catalog.get(key) != entry.msgstr:
            stale.append(entry.msgid)
    assert stale == [], (
        f"{code}: django.mo is older than django.po (run make messages): {stale[:10]}"
    )


def test_spanish_is_really_spanish():
    from django.utils import translation

    with translation.override("es"):
        assert translation.gettext("Customers") == "Clientes"
        assert translation.gettext("Log in") == "Iniciar sesión"
