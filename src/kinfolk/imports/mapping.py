"""Column mapping: which column of a file goes to which field of a person, and reading one row with it.

Targets are the words of the person form: person fields, `email`/`email_2`…, `phone`/
`phone_2`/`phone_mobile`…, address parts, `organisation` + `title`/`role` (an affiliation),
`tags` and `lists` (several in one cell), `external_id:<system>`, `full_name` (split into
parts), and `ignore`.
"""

import contextlib
import datetime
import re

from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kinfolk.identity import normalize as norm

PERSON_TARGETS = (
    "given_name",
    "middle_name",
    "family_name",
    "display_name",
    "preferred_name",
    "prefix",
    "suffix",
    "pronouns",
    "language",
    "time_zone",
    "country",
    "birth_date",
    "addressing_notes",
)
ADDRESS_TARGETS = ("street", "extended", "locality", "region", "postal_code", "address_country")
OTHER_TARGETS = ("full_name", "organisation", "title", "role", "tags", "lists", "external_ids", "ignore")
PHONE_KINDS = ("mobile", "home", "work", "fax", "other")
MULTI_MAX = 9
_MULTI = re.compile(r"^(email|phone)(?:_([2-9]))?$")


def all_targets():
    """Every target a column can be mapped to (external_id:<system> stands for any system)."""
    multi = [f"email_{i}" for i in range(2, MULTI_MAX + 1)] + [f"phone_{i}" for i in range(2, MULTI_MAX + 1)]
    phones = [f"phone_{k}" for k in PHONE_KINDS]
    return (
        list(PERSON_TARGETS)
        + ["email", "phone"]
        + multi
        + phones
        + list(ADDRESS_TARGETS)
        + list(OTHER_TARGETS)
    )


def check_target(target):
    """The target if Kinfolk knows it, else a ValidationError that lists the known ones."""
    if target.startswith("external_id:") and len(target) > len("external_id:"):
        return target
    if target in all_targets():
        return target
    raise ValidationError(
        _("Unknown field %(target)r; expected one of %(known)s, or external_id:<system>.")
        % {
            "target": target,
            "known": ", ".join(PERSON_TARGETS + ("email", "phone", "email_2", "phone_2"))
            + ", "
            + ", ".join(ADDRESS_TARGETS + OTHER_TARGETS),
        }
    )


def header_key(text):
    """'E-mail Address' -> 'emailaddress', 'Prénom' -> 'prenom': how headers are compared."""
    return re.sub(r"[^a-z0-9]", "", anyascii(text or "").lower())


# Header (as header_key) -> target, from common exports and in several languages.
_HEADERS = {
    # full names
    "name": "full_name",
    "fullname": "full_name",
    "contactname": "full_name",
    "nomcomplet": "full_name",
    "vollstandigername": "full_name",
    "nombrecompleto": "full_name",
    "displayname": "display_name",
    "fileas": "display_name",
    # given names
    "firstname": "given_name",
    "first": "given_name",
    "givenname": "given_name",
    "forename": "given_name",
    "fname": "given_name",
    "vorname": "given_name",
    "prenom": "given_name",
    "nombre": "given_name",
    "voornaam": "given_name",
    "nome": "given_name",
    # middle names
    "middlename": "middle_name",
    "additionalname": "middle_name",
    "secondname": "middle_name",
    "zweitname": "middle_name",
    # family names
    "lastname": "family_name",
    "last": "family_name",
    "surname": "family_name",
    "familyname": "family_name",
    "lname": "family_name",
    "nachname": "family_name",
    "familienname": "family_name",
    "nom": "family_name",
    "nomdefamille": "family_name",
    "apellido": "family_name",
    "apellidos": "family_name",
    "achternaam": "family_name",
    "cognome": "family_name",
    # other name parts
    "nickname": "preferred_name",
    "preferredname": "preferred_name",
    "rufname": "preferred_name",
    "salutation": "prefix",
    "nameprefix": "prefix",
    "prefix": "prefix",
    "anrede": "prefix",
    "titel": "prefix",
    "civilite": "prefix",
    "tratamiento": "prefix",
    "namesuffix": "suffix",
    "suffix": "suffix",
    "pronouns": "pronouns",
    "pronomen": "pronouns",
    # emails
    "email": "email",
    "emailaddress": "email",
    "email1": "email",
    "email1value": "email",
    "primaryemail": "email",
    "mail": "email",
    "emailadresse": "email",
    "courriel": "email",
    "adressecourriel": "email",
    "adresseemail": "email",
    "adressemail": "email",
    "correo": "email",
    "correoelectronico": "email",
    "email2": "email_2",
    "email2address": "email_2",
    "email2value": "email_2",
    "secondaryemail": "email_2",
    "otheremail": "email_2",
    "email3": "email_3",
    "email3address": "email_3",
    "email3value": "email_3",
    # phones
    "phone": "phone",
    "phonenumber": "phone",
    "telephone": "phone",
    "tel": "phone",
    "telefon": "phone",
    "telefono": "phone",
    "telefonnummer": "phone",
    "phone1value": "phone",
    "primaryphone": "phone",
    "phone2value": "phone_2",
    "phone2": "phone_2",
    "phone3value": "phone_3",
    "mobile": "phone_mobile",
    "mobilephone": "phone_mobile",
    "mobilephonenumber": "phone_mobile",
    "phonemobile": "phone_mobile",
    "cellphone": "phone_mobile",
    "cell": "phone_mobile",
    "mobil": "phone_mobile",
    "handy": "phone_mobile",
    "mobiltelefon": "phone_mobile",
    "portable": "phone_mobile",
    "telephoneportable": "phone_mobile",
    "movil": "phone_mobile",
    "celular": "phone_mobile",
    "homephone": "phone_home",
    "phonehome": "phone_home",
    "telefonprivat": "phone_home",
    "businessphone": "phone_work",
    "workphone": "phone_work",
    "phonework": "phone_work",
    "officephone": "phone_work",
    "telefongeschaftlich": "phone_work",
    "fax": "phone_fax",
    "businessfax": "phone_fax",
    # organisation and role
    "organization": "organisation",
    "organisation": "organisation",
    "organizationname": "organisation",
    "organization1name": "organisation",
    "company": "organisation",
    "companyname": "organisation",
    "accountname": "organisation",
    "employer": "organisation",
    "firma": "organisation",
    "unternehmen": "organisation",
    "arbeitgeber": "organisation",
    "entreprise": "organisation",
    "societe": "organisation",
    "empresa": "organisation",
    "organizacion": "organisation",
    "jobtitle": "title",
    "title": "title",
    "organizationtitle": "title",
    "organization1title": "title",
    "position": "title",
    "funktion": "title",
    "berufsbezeichnung": "title",
    "fonction": "title",
    "poste": "title",
    "cargo": "title",
    "puesto": "title",
    "role": "role",
    "rolle": "role",
    "department": "role",
    "abteilung": "role",
    # dates, places, language
    "birthday": "birth_date",
    "birthdate": "birth_date",
    "dateofbirth": "birth_date",
    "dob": "birth_date",
    "geburtsdatum": "birth_date",
    "geburtstag": "birth_date",
    "datedenaissance": "birth_date",
    "fechadenacimiento": "birth_date",
    "country": "country",
    "countryregion": "country",
    "land": "country",
    "pays": "country",
    "pais": "country",
    "mailingcountry": "address_country",
    "homecountry": "address_country",
    "businesscountry": "address_country",
    "language": "language",
    "preferredlanguage": "language",
    "sprache": "language",
    "langue": "language",
    "idioma": "language",
    "timezone": "time_zone",
    "zeitzone": "time_zone",
    "street": "street",
    "streetaddress": "street",
    "address": "street",
    "address1": "street",
    "mailingstreet": "street",
    "homestreet": "street",
    "businessstreet": "street",
    "strasse": "street",
    "adresse": "street",
    "rue": "street",
    "calle": "street",
    "direccion": "street",
    "address2": "extended",
    "city": "locality",
    "mailingcity": "locality",
    "homecity": "locality",
    "businesscity": "locality",
    "town": "locality",
    "ort": "locality",
    "stadt": "locality",
    "ville": "locality",
    "ciudad": "locality",
    "state": "region",
    "stateregion": "region",
    "province": "region",
    "mailingstateprovince": "region",
    "homestate": "region",
    "businessstate": "region",
    "bundesland": "region",
    "region": "region",
    "zip": "postal_code",
    "zipcode": "postal_code",
    "postalcode": "postal_code",
    "postcode": "postal_code",
    "mailingzippostalcode": "postal_code",
    "homepostalcode": "postal_code",
    "businesspostalcode": "postal_code",
    "plz": "postal_code",
    "postleitzahl": "postal_code",
    "codepostal": "postal_code",
    "codigopostal": "postal_code",
    # groupings
    "tags": "tags",
    "tag": "tags",
    "labels": "tags",
    "categories": "tags",
    "groupmembership": "tags",
    "schlagworte": "tags",
    "etiquettes": "tags",
    "etiquetas": "tags",
    "lists": "lists",
    "list": "lists",
    "listen": "lists",
    "listes": "lists",
    "notes": "addressing_notes",
    # other systems' ids
    "contactid": "external_id:salesforce",
    "salesforceid": "external_id:salesforce",
    "recordid": "external_id:hubspot",
    "hubspotid": "external_id:hubspot",
    "leid": "external_id:mailchimp",
    "euid": "external_id:mailchimp",
    "uniqueemailid": "external_id:mailchimp",
    "externalids": "external_ids",
}


def suggest_mapping(columns):
    """{column: target} guessed from the headers; a column with no guess maps to 'ignore'.

    A second column for the same email or phone becomes email_2/phone_2, so that a file
    with several addresses keeps them all.
    """
    keys = [header_key(c) for c in columns]
    has_job_title = "jobtitle" in keys
    used = set()
    result = {}
    for column, key in zip(columns, keys, strict=True):
        target = _direct_target(column) or _HEADERS.get(key)
        if target is None:
            target = _pattern_target(key)
        if target == "title" and key == "title" and has_job_title:
            target = "prefix"  # Outlook: "Title" is Mr/Ms, "Job Title" the job
        if target in ("email", "phone") or (target and _MULTI.match(target)):
            target = _next_free(target, used)
        if target is None or (target in used and not target.startswith("phone_")):
            target = "ignore"
        used.add(target)
        result[column] = target
    return result


def _direct_target(column):
    text = (column or "").strip()
    if text.startswith("external_id:"):
        return text
    return text if text in all_targets() and text != "ignore" else None


def _pattern_target(key):
    if "mail" in key and "mailing" not in key and "mailchimp" not in key:
        return "email"
    if "mobile" in key or "handy" in key:
        return "phone_mobile"
    if "phone" in key or "telefon" in key or "telephone" in key:
        return "phone"
    return None


def _next_free(target, used):
    base = _MULTI.match(target).group(1) if _MULTI.match(target) else target
    candidates = [base] + [f"{base}_{i}" for i in range(2, MULTI_MAX + 1)]
    start = candidates.index(target) if target in candidates else 0
    for candidate in candidates[start:]:
        if candidate not in used:
            return candidate
    return "ignore"


def check_mapping(mapping, columns):
    """Validate a {column: target} mapping against the file's columns; errors name column and target."""
    errors = {}
    known = set(columns)
    for column, target in mapping.items():
        if column not in known:
            errors.setdefault(column, []).append(
                _("No column %(column)r in the file; its columns are: %(columns)s.")
                % {"column": column, "columns": ", ".join(columns)}
            )
            continue
        try:
            check_target(target)
        except ValidationError as exc:
            errors.setdefault(column, []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return mapping


# ---- reading one row ----------------------------------------------------------------------------

_FORMULA_GUARD = re.compile(r"^'(?=[\s\x00-\x1f]*[=+\-@\t\r])")
_SPLIT = re.compile(r"\s*(?:[,;|]|:::)\s*")
_MONTHS = {
    **{
        m: i
        for i, m in enumerate(
            [
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ],
            start=1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
        )
    },
    "sept": 9,
    **{
        m: i
        for i, m in enumerate(
            [
                "januar",
                "februar",
                "marz",
                "april",
                "mai",
                "juni",
                "juli",
                "august",
                "september",
                "oktober",
                "november",
                "dezember",
            ],
            start=1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            [
                "janvier",
                "fevrier",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "aout",
                "septembre",
                "octobre",
                "novembre",
                "decembre",
            ],
            start=1,
        )
    },
}
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[./\-](\d{1,2})[./\-](\d{1,4})\.?$")
_WORD_DATE = re.compile(r"^(\d{1,2})\.?\s+([A-Za-zÀ-ÿ]+)\.?,?\s+(\d{4})$")
_WORD_DATE_US = re.compile(r"^([A-Za-zÀ-ÿ]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")


def parse_date(value, order="DMY"):
    """A date from ISO, DD.MM.YYYY, DD/MM/YYYY or MM/DD/YYYY (by `order`), '3 March 1990', 'March 3, 1990'."""
    text = norm.clean_text(value)
    if not text:
        return None
    text = text.split("T")[0] if re.match(r"^\d{4}-\d{2}-\d{2}T", text) else text
    try:
        if re.fullmatch(r"\d{8}", text):  # vCard's basic format, 19900303
            return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        m = _NUMERIC_DATE.match(text)
        if m:
            a, b, c = m.groups()
            if len(a) == 4:
                return datetime.date(int(a), int(b), int(c))
            day, month = (a, b) if order == "DMY" else (b, a)
            year = int(c)
            if len(c) == 2:
                year += 1900 if year > datetime.date.today().year % 100 else 2000
            return datetime.date(year, int(month), int(day))
        m = _WORD_DATE.match(text)
        if m and anyascii(m.group(2)).lower() in _MONTHS:
            return datetime.date(int(m.group(3)), _MONTHS[anyascii(m.group(2)).lower()], int(m.group(1)))
        m = _WORD_DATE_US.match(text)
        if m and anyascii(m.group(1)).lower() in _MONTHS:
            return datetime.date(int(m.group(3)), _MONTHS[anyascii(m.group(1)).lower()], int(m.group(2)))
    except ValueError:
        pass
    raise ValidationError(
        _("Not a date; expected 1990-03-03, %(local)s or 3 March 1990.")
        % {"local": "03.03.1990, 03/03/1990 (day first)" if order == "DMY" else "03/31/1990 (month first)"}
    )


def split_values(text):
    """Several values in one cell, split on , ; | (and Google's :::); Google's '* myContacts' is dropped."""
    return [v.lstrip("* ").strip() for v in _SPLIT.split(text) if v.strip("* ").strip()]


class RowReader:
    """Turns one file row into a person payload for validate_person plus affiliation/tags/lists/ids.

    Problems are collected per column; a bad cell is left out of the payload and named.
    """

    def __init__(self, mapping, *, default_region="", date_order="DMY", has_team=True):
        self.mapping = {c: t for c, t in mapping.items() if t and t != "ignore"}
        self.default_region = (default_region or "").upper()
        self.date_order = date_order
        self.has_team = has_team
        self.country_column = next((c for c, t in self.mapping.items() if t == "country"), None)

    def read(self, row):
        """(payload, extras, problems, origin): origin names the column of each field and of each detail."""
        data = {}
        extras = {"tags": [], "lists": [], "organisation": "", "title": "", "role": ""}
        emails, phones, ext_ids, address = [], [], [], {}
        origin = {"emails": [], "phones": [], "addresses": [], "external_ids": []}
        problems = []
        if "__error__" in row:
            problems.append({"column": "", "value": "", "message": row["__error__"]})
            return data, extras, problems, origin
        region = self.default_region
        if self.country_column:
            with contextlib.suppress(ValidationError):  # reported when the country column itself is read
                region = norm.normalize_country(self._text(row.get(self.country_column))) or region
        for column, target in self.mapping.items():
            value = self._text(row.get(column))
            if not value:
                continue
            try:
                if target in PERSON_TARGETS:
                    if target == "birth_date":
                        data[target] = parse_date(value, self.date_order)
                    else:
                        data[target] = value
                    origin[target] = column
                elif target == "full_name":
                    for key, part in norm.split_name(value).items():
                        if part and key not in data:
                            data[key] = part
                            origin[key] = column
                elif target.startswith("email"):
                    origin["emails"].append(column)
                    emails.append({"email": value})
                elif target.startswith("phone"):
                    kind = target.split("_", 1)[1] if target.split("_", 1)[-1] in PHONE_KINDS else None
                    origin["phones"].append(column)
                    phone = {"number": value, "region": region}
                    if kind:
                        phone["kind"] = kind
                    phones.append(phone)
                elif target in ADDRESS_TARGETS:
                    address["country" if target == "address_country" else target] = value
                    origin["addresses"] = [column]
                elif target in ("organisation", "title", "role"):
                    extras[target] = norm.clean_text(value)
                elif target in ("tags", "lists"):
                    if not self.has_team:
                        raise ValidationError(
                            _("Tags and lists belong to a team; choose the team the import works for.")
                        )
                    extras[target].extend(split_values(value))
                elif target == "external_ids":
                    for item in split_values(value):
                        system, sep, ident = item.partition(":")
                        if not sep or not system.strip() or not ident.strip():
                            raise ValidationError(
                                _("%(item)r: expected system:value, like salesforce:0031x00000AbCdE.")
                                % {"item": item}
                            )
                        origin["external_ids"].append(column)
                        ext_ids.append({"system": system.strip(), "value": ident.strip()})
                elif target.startswith("external_id:"):
                    origin["external_ids"].append(column)
                    ext_ids.append({"system": target.split(":", 1)[1], "value": value})
            except ValidationError as exc:
                problems.append({"column": column, "value": value, "message": " ".join(exc.messages)})
        if address:
            address.setdefault("country", data.get("country") or self.default_region)
            data["addresses"] = [address]
        if emails:
            data["emails"] = emails
        if phones:
            data["phones"] = phones
        if ext_ids:
            data["external_ids"] = ext_ids
        return data, extras, problems, origin

    @staticmethod
    def _text(value):
        if value is None:
            return ""
        # Undo the quote a Kinfolk export puts before a cell a spreadsheet would run as a formula.
        return _FORMULA_GUARD.sub("", str(value), count=1).strip()
