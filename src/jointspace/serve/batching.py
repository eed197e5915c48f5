"""Micro-batching: concurrent requests' items go through one function call together.

While the function runs for one batch, the calls that arrive queue up and form the next
batch, so a lone request waits for nothing and a burst is encoded in one pass (one tokenizer
and one forward pass for eight captions instead of eight).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any


class MicroBatcher:
    """Call ``fn(items) -> results`` (same length, same order) for batches of items. A result
    that is an exception is raised to its own caller only; an exception raised by ``fn``
    reaches every caller of the batch.

    Args:
        fn: the batched function; runs in a worker thread, one batch at a time.
        max_batch: largest batch.
    """

    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], max_batch: int = 32) -> None:
        self.fn, self.max_batch = fn, max_batch
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # sizes of the batches run (the last 1,000)

    async def __call__(self, item: Any) -> Any:
        """The result of ``fn`` for ``item``, computed in a batch with concurrent calls."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self.batches = (self.batches + [len(batch)])[-1000:]
            try:
                results = await loop.run_in_executor(None, self.fn, [b[0] for b in batch])
            except Exception as exc:  # every caller of the batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def close(self) -> None:
        """Stop the worker task."""
        if self._worker is not None:
            self._worker.cancel()
