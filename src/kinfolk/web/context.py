"""Template context shared by every page: theme, navigation state."""

THEMES = ("light", "dark")


def ui(request):
    """The chosen colour theme (empty: follow the system) and the section of the site being shown."""
    theme = request.COOKIES.get("kinfolk_theme", "")
    path = request.path
    section = next(
        (
            name
            for name in ("people", "organisations", "duplicates", "settings", "imports", "search")
            if path.startswith(f"/{name}")
        ),
        "home" if path == "/" else "",
    )
    return {"theme": theme if theme in THEMES else "", "section": section}
