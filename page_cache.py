"""A small per-process cache of rendered day pages, keyed by everything they show.

Rendering the day page was the largest part of serving `/` once its queries were cut to two
(cProfile, test client). A returning user mostly sees the page they saw before, so the
rendered HTML is kept, keyed by the loaded state itself (the user row, the day's state, the
local date, the CSRF secret, the asset version): any write that changes what the page shows
changes the key, so no write has to remember to invalidate anything, and a stale page cannot
be served. The two queries still run on every request; only the rendering is saved.

The page's idempotency keys must be fresh on every response (two tabs sharing one key would
make the second tab's write a "replay" and drop it), so the HTML is stored with a marker in
their place and every response gets new UUIDs. Compression stays per response, after this.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Flask, current_app

# A random UUID per process: no text a user writes can contain it by accident.
KEY_MARK = str(uuid.uuid4())


def key_mark() -> str:
    """Stands in for `new_key()` while a page is rendered for the cache."""
    return KEY_MARK


def with_fresh_keys(html: str) -> str:
    parts = html.split(KEY_MARK)
    out = [parts[0]]
    for part in parts[1:]:
        out.append(str(uuid.uuid4()))
        out.append(part)
    return "".join(out)


class PageCache:
    """Least recently used first out; shared by a worker's threads."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, key: Hashable, render: Callable[[], str]) -> str:
        """The page for `key` with fresh idempotency keys; `render` (with `key_mark` as its
        `new_key`) makes it on a miss."""
        with self._lock:
            html = self._pages.get(key)
            if html is not None:
                self._pages.move_to_end(key)
        if html is None:
            html = render()
            with self._lock:
                self._pages[key] = html
                while len(self._pages) > self.size:
                    self._pages.popitem(last=False)
        return with_fresh_keys(html)

    def __len__(self) -> int:
        return len(self._pages)


def init_app(app: Flask) -> None:
    app.config.setdefault("PAGE_CACHE_SIZE", 256)  # pages per worker process, ~11 KB each
    app.extensions["page_cache"] = PageCache(app.config["PAGE_CACHE_SIZE"])


def page_cache() -> PageCache | None:
    """The app's cache, or None when switched off (PAGE_CACHE_SIZE = 0)."""
    cache = current_app.extensions.get("page_cache")
    return cache if cache is not None and cache.size > 0 else None
