from django.core.management.base import BaseCommand

from kinfolk.search.index import reindex_all


class Command(BaseCommand):
    help = "Rebuild the search index of people, organisations and lists from the database."

    def handle(self, *args, **options):
        counts = reindex_all()
        self.stdout.write(", ".join(f"{kind}: {n:,}" for kind, n in counts.items()))
