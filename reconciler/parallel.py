"""Run one function over many items on a few threads, results in the items' order.

Used for the reads of many projects (planning, applying a saved plan). Daemon threads, not a
ThreadPoolExecutor: on Ctrl-C or SIGTERM the main thread stops waiting at once, no new item starts,
and the process exits without joining reads still in flight (an executor's threads are joined at
exit, so exit would wait for the slowest read). Never prints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Item = TypeVar("Item")


def in_parallel(
    func: Callable[[Item], T],
    items: Sequence[Item],
    parallelism: int,
    on_done: Callable[[], None] | None = None,
) -> list[T]:
    """``func`` over ``items`` with at most ``parallelism`` at once; results in the items' order.

    ``on_done`` is called after each item, finished or failed (from the thread that ran it). The
    first exception raised by ``func`` stops new items from starting and is raised here.
    """

    def run(item: Item) -> T:
        try:
            return func(item)
        finally:
            if on_done:
                on_done()

    if len(items) <= 1 or parallelism == 1:
        return [run(item) for item in items]
    results: list[Any] = [None] * len(items)
    failures: list[BaseException] = []
    next_index = iter(range(len(items)))
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            try:
                results[index] = run(items[index])
            except BaseException as exc:  # re-raised in the main thread
                failures.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"cekura-read-{n}")
        for n in range(min(parallelism, len(items)))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.05)
    except BaseException:
        stop.set()
        raise
    if failures:
        raise failures[0]
    return results
