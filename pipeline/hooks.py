"""Hooks: named, timed spans around the expensive steps, for tools that measure codeer.

The package marks each expensive step once, where it is defined (``@hooks.timed("embedding",
count=...)``) or where it runs (``with hooks.span("export_step:tabellen"):``). Nothing listens by
default, and then a span costs one list check. A tool that wants the seconds (the benchmark in
``bench/``) registers a listener; the listener gets every finished span with its label, its
seconds, the number of items it handled and the labels of the spans it ran inside, so nested
time can be taken out of the outer span.

:func:`transform` is the one other extension point: a tool may register a function that
changes a freshly loaded object (the benchmark quantises the embedding model to int8 this way).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Listener(Protocol):
    """Called once per finished span."""

    def __call__(self, label: str, seconds: float, n: int, outer: tuple[str, ...]) -> None: ...


_LISTENERS: list[Listener] = []
_ACTIVE: list[str] = []  # labels of the spans in progress, outermost first
_TRANSFORMS: dict[str, list[Callable[[Any], Any]]] = {}


def listen(listener: Listener) -> Callable[[], None]:
    """Register ``listener`` for every span from now on; returns a function that removes it."""
    _LISTENERS.append(listener)
    return lambda: _LISTENERS.remove(listener) if listener in _LISTENERS else None


@contextlib.contextmanager
def span(label: str, n: int = 0) -> Iterator[None]:
    """Time the block as ``label`` (``n``: items it handles) for the registered listeners."""
    if not _LISTENERS:
        yield
        return
    outer = tuple(_ACTIVE)
    _ACTIVE.append(label)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - t0
        _ACTIVE.pop()
        for listener in list(_LISTENERS):
            listener(label, seconds, n, outer)


def timed(label: str, count: Callable[..., int] | None = None) -> Callable[[F], F]:
    """Decorator: every call of the function is a :func:`span` named ``label``.

    Args:
        label: The span's name.
        count: Called with the function's arguments; the number of items the call handles.
    """
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not _LISTENERS:
                return func(*args, **kwargs)
            with span(label, count(*args, **kwargs) if count is not None else 0):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def add_transform(kind: str, func: Callable[[Any], Any]) -> Callable[[], None]:
    """Register ``func`` to change every object of ``kind`` passed to :func:`transform`."""
    _TRANSFORMS.setdefault(kind, []).append(func)
    return lambda: _TRANSFORMS[kind].remove(func) if func in _TRANSFORMS[kind] else None


def transform(kind: str, obj: Any) -> Any:
    """``obj`` passed through the functions registered for ``kind`` (unchanged without any)."""
    for func in _TRANSFORMS.get(kind, ()):
        obj = func(obj)
    return obj
