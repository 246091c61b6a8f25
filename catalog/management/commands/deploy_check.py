"""Reach the database, the queue broker and the media storage for real, as the deployed site will.

`manage.py check --deploy` reads settings; this command connects: it runs a query and looks for
unapplied migrations, pings the broker, and writes, reads back, lists and deletes a probe object in
the media storage (and, for a bucket, checks that an unsigned request is refused), and resolves
MATCHING_DEVICE (a `cuda` worker fails here when it sees no GPU). Exit status 1
when any check fails, with one line per check saying what to fix.
"""

import urllib.error
import urllib.request
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils.module_loading import import_string

PROBE_FOLDER = "deploy-check"


def check_database() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    where = connection.settings_dict.get("HOST") or connection.settings_dict.get("NAME")
    if pending:
        raise CommandError(f"{len(pending)} migration(s) not applied on {connection.vendor} {where}: run `manage.py migrate`")
    return f"{connection.vendor} at {where}, query ran, migrations applied"


def check_broker() -> str:
    from django_q.brokers import get_broker
    from django_q.status import Stat

    broker = get_broker()
    if not broker.ping():
        raise CommandError(f"broker {broker.info()} did not answer a ping")
    clusters = sorted({stat.cluster_id for stat in Stat.get_all(broker=broker)}) if settings.REDIS_URL else []
    running = f", {len(clusters)} cluster(s) reporting" if settings.REDIS_URL else ""
    return f"{broker.info()} answered{running}"


def _storage_where(storage) -> str:
    if hasattr(storage, "bucket_name"):
        endpoint = storage.endpoint_url or "AWS"
        return f"bucket {storage.bucket_name} at {endpoint}"
    return f"directory {storage.location}"


def _anonymous_read_refused(storage, name: str) -> bool:
    """True when the object can't be read without a signature (the bucket is not public)."""
    url = storage.unsigned_connection.meta.client.generate_presigned_url(
        "get_object", Params={"Bucket": storage.bucket_name, "Key": storage._normalize_name(name)}
    )
    try:
        with urllib.request.urlopen(url, timeout=10):
            return False
    except urllib.error.HTTPError as exc:
        return exc.code in (401, 403)


def check_storage() -> str:
    storage = default_storage
    where = _storage_where(storage)
    payload = f"deploy check {uuid.uuid4().hex}".encode()
    name = storage.save(f"{PROBE_FOLDER}/{uuid.uuid4().hex}.txt", ContentFile(payload))
    try:
        with storage.open(name, "rb") as handle:
            if handle.read() != payload:
                raise CommandError(f"{where}: the probe object read back differs from what was written")
        if name.rsplit("/", 1)[1] not in storage.listdir(PROBE_FOLDER)[1]:
            raise CommandError(f"{where}: the probe object is missing from its folder's listing")
        if hasattr(storage, "bucket_name") and not _anonymous_read_refused(storage, name):
            raise CommandError(f"{where}: an unsigned request read the probe object; make the bucket private")
    finally:
        storage.delete(name)
    if storage.exists(name):
        raise CommandError(f"{where}: the probe object {name} is still there after its deletion")
    return f"{where}: probe written, read back, listed and deleted"


def check_device() -> str:
    # By dotted path: catalog imports nothing from matching, and torch loads only for this check.
    resolve_device = import_string("matching.engine.extractors.resolve_device")
    device = resolve_device(settings.MATCHING_DEVICE)
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        return f"MATCHING_DEVICE={settings.MATCHING_DEVICE}: {device} ({torch.cuda.get_device_name(index)})"
    return f"MATCHING_DEVICE={settings.MATCHING_DEVICE}: {device}"


class Command(BaseCommand):
    help = "Connect to the database, the queue broker and the media storage, resolve the engine device, and say what works."

    def handle(self, *args, **options):
        failures = 0
        for label, check in (
            ("database", check_database), ("broker", check_broker), ("storage", check_storage), ("device", check_device),
        ):
            try:
                message = check()
            except Exception as exc:  # each check reports its own failure; the others still run
                failures += 1
                reason = str(exc) if isinstance(exc, CommandError) else f"{type(exc).__name__}: {exc}"
                self.stderr.write(f"FAIL {label}: {reason}")
            else:
                self.stdout.write(f"OK   {label}: {message}")
        if failures:
            raise CommandError(f"{failures} deployment check(s) failed")
        self.stdout.write("All deployment checks passed.")
