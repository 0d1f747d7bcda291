"""Global search: one index of people, organisations and lists, two database backends, one interface.

`search(actor, q, limit=10)` is the function pages and the REST API call; results are always
limited to what `visible_to(actor)` allows.
"""


def search(actor, q, *, limit=10, kinds=None):
    """The best matches for q among what actor may see: [SearchResult], best first."""
    from kinfolk.search.query import search as run

    return run(actor, q, limit=limit, kinds=kinds)
