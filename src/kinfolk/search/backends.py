"""The database side of search: SQLite FTS5 (trigram) or PostgreSQL full text + pg_trgm, one interface.

A backend keeps its full-text structure in step with SearchEntry rows (`write`, `delete`) and
answers three questions with entry ids: rows containing the text as typed (`phrase`), rows
containing every word (`exact`), and rows that look like the query despite a typo (`fuzzy`, best
first). Ranking and visibility are done by kinfolk.search.query for both alike. No SQL here is built from user input: words are parameters.
"""

import re

from django.db import connection

FTS_TABLE = "search_fts"
ENTRY_TABLE = "search_searchentry"
_SAFE_WORD = re.compile(r"[^a-z0-9@._+-]")


def _chunks(items, size=500):
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def trigram_terms(words):
    """Words for a trigram index: a word under three letters joins its neighbour ('muller 4' stays one term)."""
    terms = []
    pending = ""
    for word in words:
        if terms and len(word) < 3:
            terms[-1] = f"{terms[-1]} {word}"
        elif len(word) < 3:
            pending = f"{pending} {word}".strip()
        else:
            terms.append(f"{pending} {word}".strip())
            pending = ""
    if pending and len(pending) >= 3:
        terms.append(pending)
    return terms


def _kind_clause(kinds, column="e.kind"):
    if not kinds:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(kinds))})", list(kinds)


class SQLiteBackend:
    """FTS5 with the trigram tokenizer: any substring of three letters or more is found by the index."""

    vendor = "sqlite"

    @staticmethod
    def create(cursor):
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(document, tokenize='trigram')"
        )

    @staticmethod
    def drop(cursor):
        cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")

    def write(self, rows):
        """(entry id, document) pairs, new or changed."""
        rows = list(rows)
        with connection.cursor() as cursor:
            for chunk in _chunks(rows):
                ids = [pk for pk, _doc in chunk]
                cursor.execute(
                    f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({', '.join(['%s'] * len(ids))})",  # noqa: S608
                    ids,
                )
                cursor.executemany(f"INSERT INTO {FTS_TABLE} (rowid, document) VALUES (%s, %s)", chunk)  # noqa: S608

    def insert(self, rows):
        """(entry id, document) pairs of entries that are new: nothing to remove first."""
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {FTS_TABLE} (rowid, document) VALUES (%s, %s)", list(rows))  # noqa: S608

    def delete(self, ids):
        with connection.cursor() as cursor:
            for chunk in _chunks(ids):
                cursor.execute(
                    f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({', '.join(['%s'] * len(chunk))})",  # noqa: S608
                    chunk,
                )

    def clear(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {FTS_TABLE}")  # noqa: S608

    @staticmethod
    def _phrase(word):
        return '"' + word.replace('"', '""') + '"'

    def _match(self, terms, joiner, kinds, limit, *, ranked):
        expression = f" {joiner} ".join(self._phrase(t) for t in terms)
        extra, params = _kind_clause(kinds)
        # CROSS JOIN keeps the full-text match as the outer loop (SQLite's planner may otherwise scan the
        # entries by kind and run the match once per entry). Unranked matches stop at `limit` rows: a
        # common prefix matches a tenth of a million people, and kinfolk.search.query ranks the few it takes.
        order = " ORDER BY f.rank" if ranked else ""
        sql = (
            f"SELECT e.id FROM {FTS_TABLE} f CROSS JOIN {ENTRY_TABLE} e ON e.id = f.rowid "  # noqa: S608
            f"WHERE {FTS_TABLE} MATCH %s{extra}{order} LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [expression, *params, limit])
            return [row[0] for row in cursor.fetchall()]

    def phrase(self, text, *, kinds=None, limit=200):
        """Entries whose document contains the text as it is (three letters or more)."""
        return self._match([text], "AND", kinds, limit, ranked=False) if len(text) >= 3 else []

    def exact(self, words, *, kinds=None, limit=200):
        """Entries whose document contains every word (short words together with their neighbour)."""
        terms = trigram_terms(words)
        return self._match(terms, "AND", kinds, limit, ranked=False) if terms else []

    def fuzzy(self, words, *, kinds=None, limit=200):
        """Entries sharing the most three-letter pieces with the words: the candidates for typo matching."""
        grams = sorted({w[i : i + 3] for w in words if len(w) >= 3 for i in range(len(w) - 2)})
        return self._match(grams, "OR", kinds, limit, ranked=True) if grams else []

    def matching_ids_sql(self, kind, words):
        """(sql, params) selecting object ids of `kind` whose document contains every word."""
        terms = trigram_terms(words)
        if not terms:
            return None
        expression = " AND ".join(self._phrase(t) for t in terms)
        sql = (
            f"SELECT e.object_id FROM {FTS_TABLE} f CROSS JOIN {ENTRY_TABLE} e ON e.id = f.rowid "  # noqa: S608
            f"WHERE {FTS_TABLE} MATCH %s AND e.kind = %s"
        )
        return sql, [expression, kind]


class PostgreSQLBackend:
    """Full text (words and word prefixes) plus pg_trgm word similarity for typos, on GIN indexes."""

    vendor = "postgresql"

    @staticmethod
    def create(cursor):
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS search_document_trgm ON {ENTRY_TABLE} USING gin (document gin_trgm_ops)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS search_document_fts ON {ENTRY_TABLE} "
            "USING gin (to_tsvector('simple', document))"
        )

    @staticmethod
    def drop(cursor):
        cursor.execute("DROP INDEX IF EXISTS search_document_trgm")
        cursor.execute("DROP INDEX IF EXISTS search_document_fts")

    def write(self, rows):
        """Nothing to do: the GIN indexes follow the table."""

    def insert(self, rows):
        """Nothing to do: the GIN indexes follow the table."""

    def delete(self, ids):
        """Nothing to do: the GIN indexes follow the table."""

    def clear(self):
        """Nothing to do: the GIN indexes follow the table."""

    @staticmethod
    def _tsquery(words):
        # Each word quoted as one lexeme with a prefix match; quotes and operators were removed.
        terms = [_SAFE_WORD.sub("", w) for w in words]
        return " & ".join(f"'{t}':*" for t in terms if t)

    @staticmethod
    def _like(text):
        return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    def phrase(self, text, *, kinds=None, limit=200):
        """Entries whose document contains the text as it is (pg_trgm's GIN index answers LIKE)."""
        if len(text) < 3:
            return []
        extra, params = _kind_clause(kinds)
        sql = f"SELECT e.id FROM {ENTRY_TABLE} e WHERE e.document LIKE %s{extra} LIMIT %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [self._like(text), *params, limit])
            return [row[0] for row in cursor.fetchall()]

    def exact(self, words, *, kinds=None, limit=200):
        """Entries with a word starting with each query word (full text, on its GIN index)."""
        query = self._tsquery(words)
        if not query:
            return []
        extra, params = _kind_clause(kinds)
        sql = (
            f"SELECT e.id FROM {ENTRY_TABLE} e "  # noqa: S608
            f"WHERE to_tsvector('simple', e.document) @@ to_tsquery('simple', %s){extra} LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [query, *params, limit])
            return [row[0] for row in cursor.fetchall()]

    def fuzzy(self, words, *, kinds=None, limit=200):
        """Entries whose words are similar to the query (pg_trgm's word similarity, on its GIN index)."""
        text = " ".join(words)
        if len(text) < 3:
            return []
        extra, params = _kind_clause(kinds)
        sql = (
            f"SELECT e.id FROM {ENTRY_TABLE} e WHERE %s <%% e.document{extra} "  # noqa: S608
            "ORDER BY word_similarity(%s, e.document) DESC, e.id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [text, *params, text, limit])
            return [row[0] for row in cursor.fetchall()]

    def matching_ids_sql(self, kind, words):
        query = self._tsquery(words)
        if not query:
            return None
        sql = (
            f"SELECT e.object_id FROM {ENTRY_TABLE} e "  # noqa: S608
            "WHERE to_tsvector('simple', e.document) @@ to_tsquery('simple', %s) AND e.kind = %s"
        )
        return sql, [query, kind]


BACKENDS = {"sqlite": SQLiteBackend, "postgresql": PostgreSQLBackend}


def backend(conn=None):
    """The backend for the database in use."""
    return BACKENDS[(conn or connection).vendor]()


def create_index_structures(apps, schema_editor):
    """Migration step: create the vendor's full-text structures."""
    with schema_editor.connection.cursor() as cursor:
        BACKENDS[schema_editor.connection.vendor].create(cursor)


def drop_index_structures(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        BACKENDS[schema_editor.connection.vendor].drop(cursor)
