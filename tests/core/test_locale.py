"""The translation catalogs: complete, with their placeholders and plurals, and compiled from the latest .po.

The compiled .mo files are committed (Django reads them at run time, and an installed wheel has no
compile step); this test fails when a .po changed and its .mo was not compiled again.
"""

import ast
import gettext
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

import kinfolk

LOCALE = Path(settings.LOCALE_PATHS[0])
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdrf]")


def catalog(language):
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def expected_mo_catalog(po):
    """What a compiled catalog holds: every translated, non-fuzzy message (as gettext keys them)."""
    messages = {}
    for entry in po.translated_entries():
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            for index, text in entry.msgstr_plural.items():
                messages[(key, int(index))] = text
        else:
            messages[key] = entry.msgstr
    return messages


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_its_placeholders(language):
    po = catalog(language)
    assert po.percent_translated() == 100, [e.msgid for e in po.untranslated_entries()][:10]
    assert po.fuzzy_entries() == []
    nplurals = int(re.search(r"nplurals=(\d+)", po.metadata["Plural-Forms"]).group(1))
    for entry in po:
        if entry.msgid_plural:
            assert len(entry.msgstr_plural) == nplurals, entry.msgid
            for text in entry.msgstr_plural.values():
                assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(entry.msgid_plural)), text
        else:
            assert sorted(PLACEHOLDER.findall(entry.msgstr)) == sorted(PLACEHOLDER.findall(entry.msgid)), (
                entry.msgid,
                entry.msgstr,
            )


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_is_compiled_from_the_po(language):
    mo_path = LOCALE / language / "LC_MESSAGES" / "django.mo"
    with mo_path.open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)._catalog
    compiled = {k: v for k, v in compiled.items() if k != ""}  # "" is the header
    assert compiled == expected_mo_catalog(catalog(language)), (
        f"{mo_path} is older than its .po: run `kinfolk manage compilemessages` in src/kinfolk"
    )


@pytest.mark.parametrize(
    ("language", "one", "many"),
    [
        ("de", "1 Person", "2 Personen"),
        ("fr", "1 personne", "2 personnes"),
        ("es", "1 persona", "2 personas"),
    ],
)
def test_plurals_follow_the_language(language, one, many):
    with translation.override(language):
        assert translation.ngettext("%(n)s person", "%(n)s people", 1) % {"n": 1} == one
        assert translation.ngettext("%(n)s person", "%(n)s people", 2) % {"n": 2} == many


EAGER = {"gettext", "ngettext", "pgettext", "npgettext"}


def eager_calls_at_import(source):
    """Lines where gettext (not gettext_lazy) runs outside a function: frozen in the language of start-up."""
    tree = ast.parse(source)
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation"
        for alias in node.names
        if alias.name in EAGER
    }
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in names:
                found.append(child.lineno)
            visit(child)

    visit(tree)
    return found


def test_no_text_is_translated_at_import_time():
    package = Path(kinfolk.__file__).parent
    eager = {
        str(path.relative_to(package)): lines
        for path in package.rglob("*.py")
        if "migrations" not in path.parts and (lines := eager_calls_at_import(path.read_text()))
    }
    assert eager == {}, "use gettext_lazy for text defined at module or class level"


def test_the_import_time_check_finds_an_eager_call():
    source = "from django.utils.translation import gettext as _\nclass A:\n    m = _('x')\ndef f():\n    return _('y')\n"
    assert eager_calls_at_import(source) == [3]
