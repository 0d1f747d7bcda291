"""Every user-facing word in a template is marked for translation.

A template's text outside {% translate %} / {% blocktranslate %} and the attributes people read
(aria-label, placeholder, title, alt) must hold no words; a word that is the same in every
language (the product's name, a unit) is listed in NOT_WORDS.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

import kinfolk

PACKAGE = Path(kinfolk.__file__).parent
TEMPLATES = sorted(
    p for p in PACKAGE.rglob("templates/**/*") if p.suffix in (".html", ".txt")
)  # pages and emails
READ_ATTRIBUTES = {"aria-label", "placeholder", "title", "alt"}
NOT_WORDS = {"Kinfolk", "HTTP", "DE"}
WORD = re.compile(r"[^\W\d_]{2,}")
URL = re.compile(r"\w+://\S*")  # an example address is not prose
HOLE = " "  # stands for a {% tag %} or {{ variable }}: never a word, and harmless inside an HTML tag


def template_text(source):
    """The template's own text, with every tag, variable and translated block replaced by HOLE."""
    parts, inside = [], 0
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents else ""
            if name in ("blocktranslate", "blocktrans", "comment"):
                inside += 1
            elif name in ("endblocktranslate", "endblocktrans", "endcomment"):
                inside -= 1
        if token.token_type == TokenType.TEXT and not inside:
            parts.append(token.contents)
        elif token.token_type != TokenType.COMMENT:
            parts.append(HOLE)
    return "".join(parts)


class WordFinder(HTMLParser):
    """Collects words in text nodes and in the attributes people read."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self._collect(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self._collect(data)

    def _collect(self, text):
        self.words += [w for w in WORD.findall(URL.sub(" ", text)) if w not in NOT_WORDS]


def untranslated_words(source):
    finder = WordFinder()
    finder.feed(template_text(source))
    finder.close()
    return finder.words


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_template_has_no_unmarked_words(path):
    assert untranslated_words(path.read_text()) == []


def test_the_check_finds_an_unmarked_word():
    source = '{% load i18n %}<p title="Open it">{% translate "Done" %} Next</p>{% blocktranslate %}Hi{% endblocktranslate %}'
    assert untranslated_words(source) == ["Open", "it", "Next"]
