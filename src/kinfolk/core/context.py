"""Who is acting, from where, under which request id: set by middleware, the CLI and the job runner."""

import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

SOURCES = ("ui", "api", "import", "job", "cli", "plugin", "shell", "system")


@dataclass(frozen=True)
class Via:
    """The channel a change comes through; recorded on every ChangeRecord."""

    source: str = "shell"
    request_id: str = ""
    token: str = ""  # name of the API token, when one was used
    job: str = ""  # id of the background job, when one runs the work
    plugin: str = ""  # name of the plugin, when one acts

    def label(self):
        """A short human description: 'api token website-form', 'job 12', 'cli'."""
        if self.token:
            return f"{self.source} token {self.token}"
        if self.job:
            return f"{self.source} job {self.job}"
        if self.plugin:
            return f"{self.source} plugin {self.plugin}"
        return self.source


_via: ContextVar[Via] = ContextVar("kinfolk_via", default=Via())  # noqa: B039 (Via is frozen)


def current_via():
    """The Via in force for the current thread or task."""
    return _via.get()


def new_request_id():
    return uuid.uuid4().hex


@contextmanager
def acting(source=None, **fields):
    """Run a block with a different source/request id/token/job/plugin; restores the previous one."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    base = _via.get()
    changes = dict(fields)
    if source is not None:
        changes["source"] = source
    changes.setdefault("request_id", base.request_id or new_request_id())
    token = _via.set(replace(base, **changes))
    try:
        yield _via.get()
    finally:
        _via.reset(token)
