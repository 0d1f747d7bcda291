"""Shared helpers of the import tests: write a file, import it through the services, read people back."""

import csv

from kinfolk.access.actors import SYSTEM
from kinfolk.imports.engine import run_import
from kinfolk.imports.services import check_create_import
from kinfolk.people.models import Person


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def do_import(path, *, actor=SYSTEM, batch_size=5000, hook=None, workers=0, **options):
    run = check_create_import(path=path, actor=actor, **options)
    return run_import(run.pk, batch_size=batch_size, hook=hook, workers=workers)


def people_state():
    """Every person as comparable data: names, emails, phones, organisations, tags, ids (ids left out)."""
    state = []
    for p in Person.objects.order_by("display_name", "pk").prefetch_related(
        "emails", "phonenumbers", "affiliations__organisation", "taggings__tag", "externalids"
    ):
        state.append(
            (
                p.given_name,
                p.family_name,
                p.display_name,
                str(p.birth_date or ""),
                p.country.code or "",
                tuple(sorted((e.normalized, e.is_primary) for e in p.emails.all())),
                tuple(sorted((n.number, n.is_primary) for n in p.phonenumbers.all())),
                tuple(sorted((a.organisation.name, a.title) for a in p.affiliations.all())),
                tuple(sorted(t.tag.name for t in p.taggings.all())),
                tuple(sorted((x.system, x.value) for x in p.externalids.all())),
            )
        )
    return state
