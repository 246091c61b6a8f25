"""Service calls made at the same moment from several threads, each with its own database connection."""

import threading
from typing import Callable, Iterable

import pytest
from django.db import connection, connections


def skip_without_shared_database() -> None:
    """Threads see each other's rows only in a file or server database, not SQLite's in-memory one."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("threads need a file or server database (the PostgreSQL pass runs this)")


def run_at_once(target: Callable, arguments: Iterable) -> None:
    """target(argument) in one thread per argument; returns when all are done."""

    def run(argument):
        try:
            target(argument)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
