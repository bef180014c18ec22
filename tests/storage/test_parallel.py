"""storage/parallel.py: reads sent together give the answers of reads sent one by one."""
import os
import signal
import threading

import pytest

from fhir_server.storage import parallel
from fhir_server.storage.parallel import each


def test_results_keep_the_items_order_and_run_at_once():
    started, release = threading.Barrier(3, timeout=10), threading.Event()

    def read(n: int) -> int:
        if n < 3:
            started.wait()  # three reads under way at the same moment, or the barrier breaks
        return n * n
    assert each(read, list(range(20))) == [n * n for n in range(20)]


def test_the_first_failure_is_raised():
    def read(n: int) -> int:
        if n in (3, 7):
            raise ValueError(f"item {n}")
        return n
    with pytest.raises(ValueError, match="item 3"):
        each(read, list(range(10)))


def test_nested_reads_never_wait_for_their_own_pool():
    assert each(lambda n: sum(each(lambda m: m, list(range(n)))), list(range(parallel.WIDTH * 3))) == \
        [sum(range(n)) for n in range(parallel.WIDTH * 3)]


def test_a_forked_process_makes_its_own_pool():
    each(lambda n: n, [1, 2])
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # a gunicorn worker: the parent's pool threads do not exist here
        try:
            signal.alarm(10)  # an inherited pool would never answer: the child dies instead of hanging
            os.write(writing, repr(each(lambda n: n + 1, [1, 2, 3])).encode())
        finally:
            os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    assert os.read(reading, 100) == b"[2, 3, 4]"
