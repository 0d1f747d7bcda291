"""Set up BottleCRM (`django-crm` on PyPI) for the API benchmark's peer figures: runs in
bench/.venv-bottlecrm (bench/setup_peers.sh), never in Kinfolk's environment.

    DJANGO_SETTINGS_MODULE=crm.settings DBNAME=... bench/.venv-bottlecrm/bin/python bench/bottlecrm_load.py people.csv

Makes one organisation with one administrator, a personal access token (BottleCRM's credential for
scripts and agents, sent as `Authorization: Bearer bcrm_pat_...`), and one contact per row of the
CSV that bench/peer_bottlecrm.py exported from Kinfolk's data set. The contacts are loaded with the
ORM's `bulk_create` (5,000 a batch), not through BottleCRM's API: loading is not what is measured.
BottleCRM allows one contact per email in an organisation, so a repeated email (Kinfolk's data set
plants duplicate people) is loaded without it. The last line printed is JSON: the token, the id of
the middle contact, and how many contacts were loaded.
"""

import csv
import json
import sys
import time
from pathlib import Path

# This script's folder (bench/) is first on sys.path: drop it, so that none of Kinfolk's benchmark
# modules can stand in for one of BottleCRM's.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

BATCH = 5000


def main(path):
    import django

    django.setup()
    from common.models import Org, PersonalAccessToken, Profile, User
    from common.phones import to_e164
    from common.rls import get_set_context_sql
    from contacts.models import Contact
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        user = User.objects.create_user(email="bench-admin@example.org", password=None)
        org = Org.objects.create(name="Kinfolk bench", default_country="GB")
        # Set the org context as BottleCRM's middleware does, so the row-level security policies
        # hold for these writes too (the loading role may be the table owner or a superuser).
        with connection.cursor() as cursor:
            cursor.execute(get_set_context_sql(), [str(org.id)])
        profile = Profile.objects.create(
            user=user,
            org=org,
            role="ADMIN",
            has_sales_access=True,
            has_marketing_access=True,
            is_active=True,
            is_organization_admin=True,
        )
        token, _pat = PersonalAccessToken.generate(profile, "kinfolk-bench")
        seen_emails, batch, loaded, ids = set(), [], 0, []
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                email = (row["email"] or "").strip() or None
                if email and email.lower() in seen_emails:
                    email = None
                elif email:
                    seen_emails.add(email.lower())
                phone = (row["phone"] or "")[:25] or None
                batch.append(
                    Contact(
                        first_name=row["given_name"][:255] or "-",
                        last_name=row["family_name"][:255] or "-",
                        email=email,
                        phone=phone,
                        phone_e164=to_e164(phone, org.default_country) if phone else "",
                        organization=row["organisation"][:255] or None,
                        title=row["title"][:255] or None,
                        address_line=row["street"][:255] or None,
                        city=row["city"][:255] or None,
                        state=row["region"][:255] or None,
                        postcode=row["postcode"][:64] or None,
                        country=row["country"][:3].upper() or None,
                        org=org,
                        created_by=user,
                    )
                )
                if len(batch) >= BATCH:
                    ids += [c.id for c in Contact.objects.bulk_create(batch)]
                    loaded += len(batch)
                    batch = []
            if batch:
                ids += [c.id for c in Contact.objects.bulk_create(batch)]
                loaded += len(batch)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.current_org', '', false)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        json.dumps(
            {
                "token": token,
                "contact": str(ids[len(ids) // 2]) if ids else None,
                "contacts": loaded,
                "with_email": len(seen_emails),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
