"""Auto-pagination over ``data`` / ``has_more`` / ``next_cursor`` lists.

A list method returns the first :class:`Page`. Iterating the page yields every item of every
page, fetching the next page only when the previous one is used up::

    for app in client.apps.list(limit=50):
        ...

``page.data`` is this page only; ``page.iter_pages()``, ``page.has_next_page()`` and
``page.next_page()`` walk page by page; ``page.model`` is the parsed list object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Page(Generic[T]):
    __slots__ = ("_fetch", "data", "has_more", "model", "next_cursor", "response")

    def __init__(self, model: Any, *, items: str, next: str, has_more: str | None,
                 fetch: Callable[[str], Page[T]], response: Any = None) -> None:
        self.model = model
        self.data: list[T] = list(getattr(model, items) if not isinstance(model, dict) else model[items])
        raw_next = getattr(model, next, None) if not isinstance(model, dict) else model.get(next)
        self.next_cursor: str | None = raw_next
        if has_more is not None:
            flag = getattr(model, has_more, None) if not isinstance(model, dict) else model.get(has_more)
            self.has_more = bool(flag) if flag is not None else raw_next is not None
        else:
            self.has_more = raw_next is not None
        self._fetch = fetch
        self.response = response

    def has_next_page(self) -> bool:
        return bool(self.has_more and self.next_cursor)

    def next_page(self) -> Page[T]:
        if not self.has_next_page():
            raise StopIteration("no next page")
        return self._fetch(self.next_cursor)  # type: ignore[arg-type]

    def iter_pages(self) -> Iterator[Page[T]]:
        page: Page[T] = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.next_page()

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data

    def __len__(self) -> int:
        """Items on this page (not the whole list)."""
        return len(self.data)

    def __getitem__(self, index: int) -> T:
        return self.data[index]

    def __repr__(self) -> str:
        return f"Page(items={len(self.data)}, has_more={self.has_more})"
