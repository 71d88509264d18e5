"""The hand-over between the dispatcher's thread and the sending event loop.

The dispatcher is ordinary synchronous Flask/SQLAlchemy code; the pushes run on one asyncio
event loop in a background thread (`EventLoopThread`), where one shared aiohttp session keeps
its keep-alive connections. A whole batch crosses over at once (`PushSender.start`), and its
results come back in chunks (`PushBatch.results`), one hand-off per loop iteration, not one
per push: every wake-up of the collecting thread costs a GIL switch away from the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from concurrent.futures import Future

from reminders.jobs import PushResult


class EventLoopThread:
    """One asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="closer-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class PushBatch:
    """The results of one batch of jobs, collected in the caller's thread as they arrive.

    The loop hands over ``(index, PushResult)`` as each push finishes (all those of one loop
    iteration together); ``(index, None)`` means the job was not started: the batch's
    deadline had passed, or it was cancelled. With a ``window``, the loop keeps at most that
    many pushes started and not yet done with by the caller: those in flight plus those
    collected by the latest ``results()`` call, which the caller is done with when it calls
    ``results()`` again. So a caller that records each chunk before asking for the next never
    has more than the window between the wire and its records (the dispatcher's crash
    guarantee rests on this).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, total: int, window: int | None) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.total = total
        self.remaining = total
        self.window = window
        self.outstanding = 0  # started and not yet done with (owned by the loop)
        self._held = 0  # collected by the latest results() call (owned by the caller)
        self.cancelled = False  # (owned by the loop)
        self._room: asyncio.Event | None = None  # created on the loop
        self._ready: list = []  # results of this loop iteration, published together

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def results(self, timeout: float | None = None) -> list[tuple[int, PushResult | None]]:
        """Whatever has arrived, waiting up to ``timeout`` for the first ([] if nothing did)."""
        self._release_held()
        if self.remaining == 0:
            return []
        try:
            items = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        while True:
            try:
                items += self._queue.get_nowait()
            except queue.Empty:
                break
        for item in items:
            if isinstance(item, BaseException):
                raise item
        self.remaining -= len(items)
        self._held = len(items)
        return items

    def _release_held(self) -> None:
        """The caller is done with the previous chunk: its room goes back to the loop."""
        if self.window is None or not self._held:
            return
        held, self._held = self._held, 0
        # After close() the loop is closed, and there is no window left to keep.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._collected, held)

    def cancel(self) -> None:
        """Start no more of its jobs (those in flight finish): for a caller that stops
        collecting, which would otherwise leave the loop waiting for room forever."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to start
            self._loop.call_soon_threadsafe(self._cancel)

    def wait_all(self) -> list[PushResult | None]:
        """Every result, in job order (instead of ``results()``, not after it)."""
        ordered: list[PushResult | None] = [None] * self.total
        while not self.done:
            for index, result in self.results():
                ordered[index] = result
        return ordered

    # -- on the loop ------------------------------------------------------------------------

    async def room(self) -> None:
        """Wait until the caller has collected enough to stay within the window."""
        if self.window is None:
            return
        if self._room is None:
            self._room = asyncio.Event()
        while self.outstanding >= self.window and not self.cancelled:
            self._room.clear()
            await self._room.wait()
        self.outstanding += 1

    def _cancel(self) -> None:
        self.cancelled = True
        if self._room is not None:
            self._room.set()

    def _collected(self, count: int) -> None:
        self.outstanding -= count
        if self._room is not None:
            self._room.set()

    def put(self, item) -> None:
        # One hand-off per loop iteration, not per result: every wake-up of the collecting
        # thread costs a GIL switch away from the loop.
        if not self._ready:
            self._loop.call_soon(self._publish)
        self._ready.append(item)

    def _publish(self) -> None:
        ready, self._ready = self._ready, []
        self._queue.put(ready)
