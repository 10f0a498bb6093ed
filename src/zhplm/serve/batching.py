"""Dynamic batching for encoder requests: collect up to ``max_batch`` inputs or ``max_wait_s``, run one
forward, hand each request its own rows. The queue is bounded: past ``max_pending`` inputs a request is
refused with 503 + Retry-After instead of waiting without end. :class:`Slots` bounds the requests that run
one forward each (the image routes) the same way."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from zhplm.allocator import libc_function
from zhplm.errors import RequestError

Forward = Callable[[list[str]], Any]  # texts -> array of rows, one per text, in order


class Slots:
    """At most ``running`` requests at work and ``waiting`` more queued; past that, 429 + Retry-After.
    Generations hold one from start to the end of their stream (:meth:`acquire` / :meth:`release`); the image
    routes hold one for their forward (:meth:`hold`)."""

    def __init__(self, running: int, waiting: int, what: str) -> None:
        self.running = max(1, running)
        self.waiting_limit = max(0, waiting)
        self.what = what
        self.waiting = 0
        self.busy = 0
        self._free = asyncio.Semaphore(self.running)

    async def acquire(self) -> None:
        if self._free.locked() and self.waiting >= self.waiting_limit:
            raise RequestError(
                429,
                f"{self.running} {self.what} running and {self.waiting} waiting (limit {self.waiting_limit}); "
                "retry in a few seconds",
                kind="overloaded",
                headers={"Retry-After": "2"},
            )
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.busy += 1

    def release(self) -> None:
        self.busy -= 1
        self._free.release()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class MemoryTrim:
    """Gives freed heap memory back to the OS at most every ``every_s`` seconds (glibc ``malloc_trim``).

    A batched forward allocates activations of a new size for every batch shape; glibc keeps what they
    free in its per-thread arenas (and raises its mmap threshold past them), so a server's RSS grew for as
    long as it ran (bench/results/serve_load.txt: 491 -> 888 MiB in 30 s) though nothing stayed alive.
    Trimming after a forward, rate-limited, keeps RSS at what is really in use. A no-op without glibc."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self.trims = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._trim: Callable[[int], int] | None = libc_function("malloc_trim")  # None: not glibc

    def __call__(self) -> None:
        if self._trim is None or time.monotonic() - self._last < self.every_s:
            return
        if not self._lock.acquire(blocking=False):
            return  # another forward thread is trimming
        try:
            self._last = time.monotonic()
            self._trim(0)
            self.trims += 1
        finally:
            self._lock.release()


class Batcher:
    def __init__(
        self, forward: Forward, *, max_batch: int, max_wait_s: float, max_pending: int, parallel: int = 2
    ) -> None:
        self.forward = forward
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_pending = max_pending
        self.pending = 0  # inputs queued, not yet in a forward
        self.batches = 0
        self.batched_inputs = 0
        self._queue: deque[tuple[list[str], asyncio.Future[Any]]] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        # forwards in flight at once: the next batch gathers (and starts) while one computes
        self._slots = asyncio.Semaphore(parallel)
        self._running: set[asyncio.Task[None]] = set()
        # forwards run on their own threads (not the loop's shared pool): the same few threads every
        # time, so the allocator keeps few arenas, and generation's pieces never wait behind a forward
        self._threads = ThreadPoolExecutor(parallel, thread_name_prefix="zhplm-forward")

    async def submit(self, texts: Sequence[str]) -> Any:
        """The rows for ``texts`` (computed in some batch together with other requests' inputs)."""
        if self.pending + len(texts) > self.max_pending:
            raise RequestError(
                503,
                f"the embeddings queue is full ({self.pending} inputs waiting, limit {self.max_pending}); "
                "retry after a second",
                kind="overloaded",
                headers={"Retry-After": "1"},
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((list(texts), future))
        self.pending += len(texts)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        self._wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await self._slots.acquire()  # while every slot computes, inputs keep gathering
            deadline = loop.time() + self.max_wait_s
            while sum(len(t) for t, _ in self._queue) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    break
            taken: list[tuple[list[str], asyncio.Future[Any]]] = []
            count = 0
            while self._queue and (not taken or count + len(self._queue[0][0]) <= self.max_batch):
                texts, future = self._queue.popleft()
                taken.append((texts, future))
                count += len(texts)
            self.pending -= count
            live = [(t, f) for t, f in taken if not f.done()]  # a client that went away costs nothing
            if not live:
                self._slots.release()
                continue
            task = asyncio.create_task(self._forward(live))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _forward(self, live: list[tuple[list[str], asyncio.Future[Any]]]) -> None:
        try:
            inputs = [text for t, _ in live for text in t]
            self.batches += 1
            self.batched_inputs += len(inputs)
            try:
                rows = await asyncio.get_running_loop().run_in_executor(self._threads, self.forward, inputs)
            except Exception as exc:
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                return
            start = 0
            for t, f in live:
                if not f.done():
                    f.set_result(rows[start : start + len(t)])
                start += len(t)
        finally:
            self._slots.release()
