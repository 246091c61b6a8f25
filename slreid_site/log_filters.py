"""Logging filters named in settings.LOGGING."""

import logging


class DropQueueEnqueued(logging.Filter):
    """Drops django-q2's "Enqueued [queue] id" line, logged at INFO for every task put on a queue.

    Loading the demo alone enqueues dozens of tasks, and the lines read like errors to a new user; the
    queue's other messages (cluster start and stop, processed tasks, warnings, errors) stay.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno < logging.WARNING and str(record.msg).startswith("Enqueued ["))
