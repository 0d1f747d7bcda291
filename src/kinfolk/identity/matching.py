"""How Kinfolk decides that two records may be one person, and says why.

Three steps, each a pure function so that the single check, the batch run, the benchmark and the
tests share them:

1. `make_profile` turns raw values into the matching form of a person: names folded to ASCII
   with nicknames resolved, emails as the mailbox they reach, phones in E.164, addresses as
   postcode + street key (normalisation of each value comes from `kinfolk.identity.normalize`).
2. `blocking_keys` files a profile under a few keys (email, phone, external id, address, a
   phonetic name key in both name orders, birth date + initial, phone + postcode + name sound).
   Only people sharing a key are ever compared.
3. `compare` scores a pair field by field with the weights of a `MatchRuleSet` (log-odds-like
   points), taking off points when the shared value is one many people have (a shared office
   phone says less than a private one), and returns findings that `explain` turns into words:
   "email same; family name Jaro-Winkler 0.96; birth date same; postcode differs".
"""

import datetime
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from rapidfuzz.distance import OSA, JaroWinkler

from kinfolk.identity.normalize import clean_text, name_key

# Providers that ignore dots and +tags in the local part.
_DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers that ignore +tags (but not dots).
_PLUS_PROVIDERS = {
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "fastmail.com",
    "proton.me",
}

# Nicknames and short forms → one canonical given name.
_NICKNAMES = {
    "robert": "bob bobby rob robbie bert",
    "william": "bill billy will willy liam",
    "elizabeth": "liz lizzie beth betty eliza lisa elisabeth",
    "margaret": "maggie meg peggy greta marge",
    "richard": "dick rick ricky rich",
    "james": "jim jimmy jamie",
    "john": "johnny jack jon",
    "michael": "mike mikey mick",
    "katherine": "kate katie kathy cathy catherine kathryn",
    "thomas": "tom tommy",
    "joseph": "joe joey",
    "charles": "charlie chuck",
    "edward": "ed eddie ted ned",
    "alexander": "alex sandy alec",
    "alexandra": "sasha",
    "christopher": "chris kit",
    "christine": "tina",
    "daniel": "dan danny",
    "david": "dave davy",
    "anthony": "tony",
    "andrew": "andy drew",
    "benjamin": "ben benny",
    "nicholas": "nick nicky",
    "matthew": "matt",
    "patrick": "pat paddy",
    "patricia": "patty tricia",
    "susan": "sue suzy susie",
    "susanne": "susi",
    "jennifer": "jen jenny",
    "rebecca": "becky becca",
    "samuel": "sam sammy",
    "stephen": "steve steven",
    "timothy": "tim",
    "victoria": "vicky tori",
    "johannes": "hans hannes",
    "josef": "sepp",
    "francesco": "franco",
    "francisco": "paco pancho",
    "jose": "pepe",
    "giuseppe": "beppe peppe",
    "aleksandr": "sascha",
    "gregory": "greg",
    "kenneth": "ken kenny",
    "ronald": "ron ronnie",
    "donald": "don donnie",
    "deborah": "debbie deb",
    "dorothy": "dot dottie",
    "frederick": "fred freddie",
    "henry": "harry hank",
    "lawrence": "larry",
    "leonard": "len lenny",
    "peter": "pete",
    "philip": "phil",
    "raymond": "ray",
    "theodore": "theo",
    "zachary": "zach zack",
}
NICKNAMES = {nick: full for full, nicks in _NICKNAMES.items() for nick in nicks.split()}

_ORG_SUFFIXES = re.compile(
    r"\b(inc|incorporated|ltd|limited|llc|llp|plc|gmbh|ggmbh|ag|kg|ohg|ev|e v|sa|sarl|srl|spa|bv|nv|"
    r"co|corp|corporation|company|foundation|stiftung)\b"
)
_STREET_WORDS = {
    "street": "st", "str": "st", "strasse": "st", "road": "rd", "avenue": "ave", "av": "ave",
    "boulevard": "blvd", "lane": "ln", "drive": "dr", "place": "pl", "square": "sq", "platz": "pl",
    "weg": "wg", "gasse": "g", "calle": "c", "rua": "r", "rue": "r", "via": "v", "ulica": "ul",
}  # fmt: skip
_STREET_SUFFIX = re.compile(r"(?<=.)(strasse|str)$")  # German compounds: Hauptstraße, Hauptstr.
_UMLAUT_PAIRS = re.compile(r"(?<=[aou])e")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SEP = "\n"  # joins the values of one field in a stored profile (clean_text leaves no newline)


def match_email(value):
    """The form of an email address under which two addresses reach the same mailbox."""
    text = clean_text(value).lower()
    local, _sep, domain = text.rpartition("@")
    if not local:
        return text
    canonical = _DOTLESS_PROVIDERS.get(domain)
    if canonical:
        local = local.split("+", 1)[0].replace(".", "")
        domain = canonical
    elif domain in _PLUS_PROVIDERS:
        local = local.split("+", 1)[0]
    return f"{local}@{domain}"


@lru_cache(maxsize=65536)
def fold_name(text):
    """ASCII, lower case, letters only, German umlaut spellings folded: Müller, Mueller, Muller -> muller."""
    key = _NON_ALNUM.sub(" ", name_key(text or "")).strip()
    return _UMLAUT_PAIRS.sub("", key)


@lru_cache(maxsize=65536)
def given_key(text):
    """The canonical given name: folded, first word, nicknames resolved (Bob -> robert); an initial
    is one letter in any script (く. and 篤. fold to "ku" and "du": their initials are k and d)."""
    if not text:
        return ""
    folded = fold_name(text).split(" ")[0]
    written = text.strip()
    if (len(written) == 2 and written[1] == ".") or (len(written) == 1 and written.isascii()):
        return folded[:1]  # an initial (one kanji without a dot, 充, is a whole name)
    return NICKNAMES.get(folded, folded)


@lru_cache(maxsize=65536)
def phonetic(text):
    """Soundex of a folded name ('' for no name): robust to the transposed letters of typing slips."""
    letters = text.replace(" ", "")
    return jellyfish.soundex(letters).lower() if letters else ""


def match_org_name(value):
    """An organisation name without legal-form suffixes and punctuation: 'ACME Ltd.' -> 'acme'."""
    text = name_key(value).replace(".", " ")
    return " ".join(_ORG_SUFFIXES.sub(" ", _NON_ALNUM.sub(" ", text)).split())


def match_postcode(value):
    """A postcode without spaces and in upper case: 'sw1a 1aa' -> 'SW1A1AA'."""
    return re.sub(r"[\s-]+", "", clean_text(value)).upper()


@lru_cache(maxsize=65536)
def street_key(value):
    """A street line folded, with common words shortened: '12 High Street' and '12 high st.' agree."""
    words = fold_name(value).split()
    return " ".join(_STREET_WORDS.get(w) or _STREET_SUFFIX.sub("st", w) for w in words)


def address_key(postal_code, street=""):
    """'POSTCODE|street key' of an address, or '' without a postcode."""
    code = match_postcode(postal_code or "")
    return f"{code}|{street_key(street or '')}" if code else ""


@dataclass(slots=True)
class Profile:
    """What matching knows of one person, in matching form."""

    id: int | None
    given: str = ""  # canonical given name (first word, nicknames resolved)
    given_raw: str = ""  # folded given name as written (all words)
    family: str = ""  # folded family name
    birth_date: object = None
    country: str = ""
    # Several values: sorted tuples (a person has one or two of each; cheaper than sets at 1M people).
    emails: tuple = ()
    phones: tuple = ()
    external_ids: tuple = ()  # ("system:value", …)
    addresses: tuple = ()  # ("POSTCODE|street key", …)
    localities: tuple = ()

    @property
    def postcodes(self):
        return tuple(a.split("|", 1)[0] for a in self.addresses)

    def to_row(self):
        """The stored form: plain strings, sets joined by newlines."""
        return (
            self.given,
            self.given_raw,
            self.family,
            self.birth_date,
            self.country,
            *(_SEP.join(s) for s in (self.emails, self.phones, self.external_ids, self.addresses)),
            _SEP.join(self.localities),
        )


def _split(text):
    return tuple(text.split(_SEP)) if text else ()


def _tuple(values):
    return tuple(sorted(set(values)))


def _common(a, b):
    """The values two small tuples share."""
    return [x for x in a if x in b]


def profile_from_row(
    pk, given, given_raw, family, birth_date, country, emails, phones, ext, addresses, places
):
    """A Profile from its stored row (see Profile.to_row); SQLite gives the date as text."""
    if isinstance(birth_date, str):
        birth_date = datetime.date.fromisoformat(birth_date) if birth_date else None
    return Profile(
        pk,
        given,
        given_raw,
        family,
        birth_date,
        country or "",
        _split(emails),
        _split(phones),
        _split(ext),
        _split(addresses),
        _split(places),
    )


def make_profile(
    pk,
    *,
    given_name="",
    family_name="",
    birth_date=None,
    country="",
    emails=(),
    phones=(),
    external_ids=(),
    addresses=(),
    localities=(),
):
    """A Profile from raw values; addresses are (postal code, street) pairs, external ids (system, value)."""
    raw = fold_name(given_name or "")
    return Profile(
        id=pk,
        given=given_key(given_name or ""),
        given_raw=raw,
        family=fold_name(family_name or ""),
        birth_date=birth_date,
        country=str(getattr(country, "code", country) or ""),
        emails=_tuple(match_email(e) for e in emails if e),
        phones=_tuple(p for p in phones if p),
        external_ids=_tuple(f"{s}:{v}"[:200] for s, v in external_ids if v),
        addresses=_tuple(k for k in (address_key(c, s) for c, s in addresses) if k),
        localities=_tuple(fold_name(x) for x in localities if x and fold_name(x)),
    )


def blocking_keys(profile):
    """{(kind, value)} under which the profile is filed; two people sharing one are compared."""
    keys = {("email", e) for e in profile.emails}
    keys.update(("phone", p) for p in profile.phones)
    keys.update(("ext", x) for x in profile.external_ids)
    keys.update(("address", a) for a in profile.addresses)
    given, family, raw = profile.given, profile.family, profile.given_raw
    sounds = []
    if family:
        sounds.append(phonetic(family))
        if given:
            keys.add(("name", f"{phonetic(family)}|{given}"))
            # the same key with the names swapped, so "Smith John" meets "John Smith"
            keys.add(("name", f"{phonetic(raw)}|{given_key(family)}"))
            sounds.append(phonetic(raw))
    elif given:
        sounds.append(phonetic(raw))
    if profile.birth_date and (given or family):
        born = profile.birth_date.isoformat()
        keys.update(("born", f"{born}|{initial}") for initial in {given[:1], family[:1]} if initial)
    # Phone + postcode + the sound of a name: catches records whose names differ too much for the
    # name key (an initial, a changed name) but that share a number and a home.
    for phone in profile.phones:
        for code in profile.postcodes:
            keys.update(("contact", f"{phone}|{code}|{sound}") for sound in sounds)
    return {(k, v[:200]) for k, v in keys}


# ---- scoring -------------------------------------------------------------------------------------

# Findings are (field, outcome, detail): outcome one of agree/partial/common/disagree/swapped;
# detail a similarity for names, the number of people sharing a value for agreements, else None.
# ("household", "disagree") says that a shared phone and address were counted as one home: a name
# differs and nothing personal (own mailbox, id, birth date) agrees, as with two people of a family.


def _similarity(a, b):
    """Jaro-Winkler, except that one slip of the keyboard (a letter swapped, missed, added or wrong)
    in a name of four or more letters counts as similar even where Jaro-Winkler is low (Cole, Cloe)."""
    if a == b:
        return 1.0
    sim = JaroWinkler.similarity(a, b)
    if sim < SLIP_SIMILARITY and (
        (min(len(a), len(b)) >= 4 and OSA.distance(a, b, score_cutoff=1) <= 1) or _slip_into_umlaut(a, b)
    ):
        return SLIP_SIMILARITY
    return sim


def _slip_into_umlaut(a, b):
    """True if two letters swapped in the longer name made an umlaut spelling that folding then
    shortened: Jones typed Jnoes folds to jnos, Gute typed Gtue to gtu, Moreau typed Mroeau to mroau."""
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) != len(shorter) + 1 or len(longer) < 4:
        return False
    for i in range(len(longer) - 1):
        swapped = longer[:i] + longer[i + 1] + longer[i] + longer[i + 2 :]
        if _UMLAUT_PAIRS.sub("", swapped) == shorter:
            return True
    return False


SLIP_SIMILARITY = 0.9


def _clearly_different(a, b, slips=2):
    """Names more than `slips` typing slips apart (Samahat and Candeniz, Santos and Cardoso): not one
    name mistyped or spelled another way (a slip next to an umlaut spelling, Gtue -> gtu for Gute, is
    two)."""
    return OSA.distance(a, b, score_cutoff=slips) > slips


def _given_slips(a, b):
    """The slips a given name may have and still be the same name: one in a short name (Marc and Karl,
    Rosie and Ross are two names of a family, not one mistyped), two in a longer one."""
    return 1 if min(len(a), len(b)) <= 5 else 2


def _given_similarity(a, a_raw, b, b_raw):
    """Similarity of canonical given names; an initial agrees with any name that starts with it."""
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        return 0.9 if a[0] == b[0] or a_raw[:1] == b_raw[:1] else 0.0
    raw = _similarity(a_raw, b_raw) if a_raw != a or b_raw != b else 0.0
    if _is_nickname(a, a_raw) or _is_nickname(b, b_raw):
        # A nickname's full name is looked up, not written: its spelling says nothing of the other
        # name's (Tina is Christine, which is not Christopher mistyped).
        return raw
    return max(_similarity(a, b), raw)


def _is_nickname(canonical, raw):
    """True if the canonical given name was looked up from a nickname written in raw."""
    return canonical != raw.split(" ", 1)[0]


def _names(p, q):
    """(given similarity, family similarity, swapped?, given names compared, family names compared),
    taking the better of the straight and the swapped reading.

    Symmetric: compare(p, q) and compare(q, p) give the same score.
    """
    straight_pairs = (p.given, q.given), (p.family, q.family)
    if p.given == q.given and p.family == q.family and p.given and p.family:
        return 1.0, 1.0, False, *straight_pairs
    given = _given_similarity(p.given, p.given_raw, q.given, q.given_raw) if p.given and q.given else None
    family = _similarity(p.family, q.family) if p.family and q.family else None
    if given == 1.0 and family == 1.0:
        return given, family, False, *straight_pairs
    straight = (given or 0) + (family or 0)
    # Swapped names score at most 2: they can only win (by 0.2) where the straight reading is weak.
    if straight < 1.8 and p.given and p.family and q.given and q.family:
        best = straight + 0.2
        result = None
        for a, b in ((p, q), (q, p)):
            s_given = _given_similarity(a.given, a.given_raw, given_key(b.family), b.family)
            s_family = _similarity(a.family, b.given_raw)
            if s_given + s_family > best:
                pairs = (a.given, given_key(b.family)), (a.family, b.given_raw)
                best, result = s_given + s_family, (s_given, s_family, True, *pairs)
        if result:
            return result
    return given, family, False, *straight_pairs


class Scorer:
    """The weights of a rule set, compiled for scoring many pairs quickly."""

    FIELDS = (
        "email", "phone", "external_id", "address", "phone_and_address", "given_name", "family_name",
        "birth_date", "locality", "country",
    )  # fmt: skip
    OUTCOMES = ("agree", "partial", "common", "disagree")

    def __init__(self, rules):
        weights = rules.get("weights", {})
        self.w = {(f, o): float(weights.get(f, {}).get(o, 0.0)) for f in self.FIELDS for o in self.OUTCOMES}
        self.limit = float(rules.get("name_similarity", 0.88))
        self.scale = float(rules.get("frequency_scale", 0.5))
        self.common = int(rules.get("common_count", 50))

    def shared(self, fieldname, holders):
        """Points for agreeing on a value `holders` people have: fewer the more people share it.

        Each doubling of the people sharing the value takes `frequency_scale` points off, down to
        the field's `common` weight, which applies too once more than `common_count` share it.
        """
        agree = self.w[fieldname, "agree"]
        if holders is None or holders <= 2:
            return agree, "agree"
        floor = self.w[fieldname, "common"]
        if holders > self.common:
            return floor, "common"
        return max(agree - self.scale * math.log2(holders / 2), floor), "agree"

    def _values(self, kind, mine, theirs, counts, findings):
        """Points for a field of exact values (emails, phones): shared values, weighed by how many share them."""
        if not mine or not theirs:
            return 0.0
        same = [x for x in mine if x in theirs]
        if not same:
            findings.append((kind, "disagree", None))
            return self.w[kind, "disagree"]
        holders = min(counts(kind, v) for v in same) if counts else None
        points, outcome = self.shared(kind, holders)
        findings.append((kind, outcome, holders))
        return points

    def compare(self, p, q, counts=None):
        """(score, findings) of a pair; counts(kind, value) says how many people share a value."""
        w = self.w
        score = 0.0
        findings = []
        personal = same_phone = False
        phone_points = 0.0
        if p.emails and q.emails:
            score += self._values("email", p.emails, q.emails, counts, findings)
            # Something a person shares with no one else: their own mailbox (not one several people
            # use), an id, a birth date. Without it, a shared phone and address may be a household's.
            personal = findings[-1][1] == "agree" and (findings[-1][2] or 2) <= 2
        if p.phones and q.phones:
            phone_points = self._values("phone", p.phones, q.phones, counts, findings)
            score += phone_points
            same_phone = findings[-1][1] != "disagree"
        if p.external_ids and q.external_ids:
            theirs = q.external_ids
            if any(x in theirs for x in p.external_ids):
                findings.append(("external_id", "agree", None))
                score += w["external_id", "agree"]
                personal = True
            else:
                systems = {x.partition(":")[0] for x in p.external_ids}
                if any(x.partition(":")[0] in systems for x in theirs):
                    findings.append(("external_id", "disagree", None))
                    score += w["external_id", "disagree"]
        given, family, swapped, given_pair, family_pair = _names(p, q)
        if swapped:
            findings.append(("names", "swapped", None))
        names_differ = False
        for fieldname, sim, (a, b) in (
            ("given_name", given, given_pair),
            ("family_name", family, family_pair),
        ):
            if sim is None:
                continue
            outcome = "agree" if sim == 1.0 else "partial" if sim >= self.limit else "disagree"
            findings.append((fieldname, outcome, sim))
            score += w[fieldname, outcome]
            if outcome == "disagree" and not names_differ:
                names_differ = _clearly_different(
                    a, b, _given_slips(a, b) if fieldname == "given_name" else 2
                )
        if given == 1.0 and family == 1.0 and counts and not swapped:
            # The same full name says less when many people have it (five Maria Silvas in Porto).
            holders = counts("name", f"{phonetic(p.family)}|{p.given}")
            if holders > 2:
                findings.append(("name", "common", holders))
                score -= self.scale * math.log2(holders / 2)
        if p.birth_date and q.birth_date:
            a, b = p.birth_date, q.birth_date
            if a == b:
                outcome = "agree"
            elif a.year == b.year and a.month == b.day and a.day == b.month:
                outcome = "partial"
            else:
                outcome = "disagree"
            findings.append(("birth_date", outcome, None))
            score += w["birth_date", outcome]
            personal = personal or outcome == "agree"
        if p.addresses and q.addresses:
            same = _common(p.addresses, q.addresses)
            if same:
                holders = min(counts("address", v) for v in same) if counts else None
                points, outcome = self.shared("address", holders)
                findings.append(("address", outcome, holders))
                if same_phone and names_differ and not personal:
                    # One home, two names: what a household shares. The phone and the address are
                    # then one piece of evidence (of the home), not two: only the stronger counts.
                    findings.append(("household", "disagree", None))
                    score += max(points - phone_points, 0.0)
                    same_phone = False
                else:
                    score += points
                if same_phone and w["phone_and_address", "agree"]:
                    # A number and a home both shared say more than each alone: few people share both.
                    findings.append(("phone_and_address", "agree", None))
                    score += w["phone_and_address", "agree"]
            elif _common(p.postcodes, q.postcodes):
                findings.append(("address", "partial", None))
                score += w["address", "partial"]
            else:
                findings.append(("address", "disagree", None))
                score += w["address", "disagree"]
        elif p.localities and q.localities:
            outcome = "agree" if _common(p.localities, q.localities) else "disagree"
            findings.append(("locality", outcome, None))
            score += w["locality", outcome]
        if p.country and q.country:
            outcome = "agree" if p.country == q.country else "disagree"
            if w["country", outcome]:
                findings.append(("country", outcome, None))
                score += w["country", outcome]
        return round(score, 2), findings


@lru_cache(maxsize=32)
def _labels_in(language):
    return {
        "email": _("email"),
        "phone": _("phone"),
        "external_id": _("external id"),
        "given_name": _("given name"),
        "family_name": _("family name"),
        "birth_date": _("birth date"),
        "locality": _("city"),
        "country": _("country"),
    }


def explain(findings):
    """The findings of `Scorer.compare` in words, one reason per field."""
    language = get_language()
    return [_reason(language, *finding) for finding in findings]


@lru_cache(maxsize=65536)
def _reason(language, fieldname, outcome, detail):
    """One finding in words (kept per language: a batch run explains a million findings, most alike)."""
    labels = _labels_in(language)
    if fieldname == "names":
        return _("given and family names swapped")
    if fieldname == "phone_and_address":
        return _("the same phone at the same address")
    if fieldname == "household":
        return _(
            "a name differs and nothing personal is shared: the same phone and address say "
            "one household, perhaps another person in it (counted once)"
        )
    if fieldname == "name":
        return ngettext(
            "%(count)d people have a name like this",
            "%(count)d people have a name like this",
            detail,
        ) % {"count": detail}
    if fieldname == "address":
        return {
            "agree": _("address same"),
            "common": _("address same (shared by many people)"),
            "partial": _("postcode same, street differs"),
            "disagree": _("postcode differs"),
        }[outcome] + (_shared(detail) if outcome == "agree" else "")
    if fieldname in ("given_name", "family_name") and outcome != "agree":
        label = labels[fieldname]
        if outcome == "partial":
            return _("%(field)s Jaro-Winkler %(sim).2f") % {"field": label, "sim": detail}
        return _("%(field)s differs (Jaro-Winkler %(sim).2f)") % {"field": label, "sim": detail}
    if fieldname == "birth_date" and outcome == "partial":
        return _("birth date with day and month swapped")
    if outcome == "disagree":
        return _("%(field)s differs") % {"field": labels[fieldname]}
    if outcome == "common":
        return _("%(field)s same (shared by many people)") % {"field": labels[fieldname]}
    return _("%(field)s same") % {"field": labels[fieldname]} + _shared(detail)


def _shared(holders):
    if not holders or holders <= 2:
        return ""
    return " " + ngettext("(shared by %(count)d people)", "(shared by %(count)d people)", holders) % {
        "count": holders
    }


def score_pair(p, q, rules, counts=None):
    """(score, reasons) of a pair under a rule dict: the one-call form for tests and single pairs."""
    score, findings = Scorer(rules).compare(p, q, counts)
    return score, explain(findings)
