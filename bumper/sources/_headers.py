"""``Headers``: the case-insensitive view of a request's headers that every sender reads.

Pure data; imports nothing from Bumper. Kept apart from ``bumper.sources`` so that sender
modules can import it without importing the registry that imports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive view of HTTP headers (last value wins on repeats)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            if isinstance(name, str) and isinstance(value, str):
                self._items[name.lower()] = (name, value)

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headers:
        """``headers`` itself when it already is a ``Headers``, else a case-insensitive copy."""
        return headers if isinstance(headers, Headers) else cls(headers)

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._items[name.lower()][1]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # Mapping.get goes through __getitem__ and a KeyError: senders call this on every
        # header they read.
        if not isinstance(name, str):
            return default
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Header values may be credentials: never show them.
        return f"Headers({sorted(self._items)})"
