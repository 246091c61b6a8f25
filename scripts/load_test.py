#!/usr/bin/env python
"""Load test: N concurrent partners submitting sightings for D seconds against a running site.

Each partner is a thread with its own session that does what a person does: upload a burst of
photos, save the photos page, start the identification, watch the progress page (polling the
status JSON) until the result is in, open the results and the top candidate's overlay, then
submits the next trigger. After D seconds no new submission starts; the script waits (up to
--drain seconds) for every started identification to finish and then checks the database:

  requests  every HTTP request made;   errors  HTTP >= 400, network errors, failed runs
  lost      uploads the server accepted that have no complete sighting in the database
  stuck     sightings still submitted/identifying (or runs still active) after the drain

Only loopback servers are accepted. With --spawn the script starts the site itself
(gunicorn + the interactive and bulk qclusters) on the database named by DATABASE_URL
(default: a fresh SQLite file in a temporary DATA_DIR) and the broker of REDIS_URL (default:
the ORM broker), loads the demo catalog and stops everything at the end:

  .venv/bin/python scripts/load_test.py --spawn
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/slreid_load REDIS_URL=redis://127.0.0.1:6379/13 \\
      .venv/bin/python scripts/load_test.py --spawn

Identification runs on the real engine (the configured default extractor, CPU unless a GPU is
there); nothing is patched.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import ipaddress
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORG_SLUG = "load-test-partners"
RUN_TOKEN = secrets.token_hex(3)  # photos of a rerun on the same site must not be duplicates
PASSWORD = "load-test-" + "pw"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="", help="base URL of a running site (loopback only); default with --spawn")
    p.add_argument("--spawn", action="store_true", help="start gunicorn and both qclusters for the test")
    p.add_argument("--partners", type=int, default=20)
    p.add_argument("--duration", type=float, default=60.0, help="seconds during which submissions start")
    p.add_argument("--drain", type=float, default=600.0, help="max seconds to wait for started runs to finish")
    p.add_argument("--photos", type=int, default=2, help="photos per submitted trigger")
    p.add_argument("--size", default="640x360", help="photo size WxH")
    p.add_argument("--demo-individuals", type=int, default=8)
    p.add_argument("--warmup-timeout", type=float, default=1800.0,
                   help="max seconds for the first identification (it extracts the catalog's features)")
    p.add_argument("--extractor", default="", help="extractor the partners choose (default: the site's default)")
    p.add_argument("--data-dir", default="", help="with --spawn: DATA_DIR to use (default: a new temporary one)")
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--web-threads", type=int, default=8)
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status polls (results.js polls every 1.5 s)")
    return p.parse_args()


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        sys.exit(f"cannot resolve {host!r}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"refusing to load-test {url}: only loopback addresses are allowed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(args) -> dict:
    env = dict(os.environ)
    if args.data_dir:
        env["DATA_DIR"] = args.data_dir  # reuse a prepared site (its catalog's features are cached)
    elif "DATABASE_URL" not in env:
        env["DATA_DIR"] = tempfile.mkdtemp(prefix="slreid-load-")
    if "SECRET_KEY" not in env:
        # Stable per data folder: queued tasks are signed with it and must survive a restart.
        key_file = Path(env.get("DATA_DIR") or tempfile.gettempdir()) / ".load-test-secret-key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(32))
        env["SECRET_KEY"] = key_file.read_text().strip()
    env.update({
        "DEBUG": "0", "DEMO_MODE": "1", "SLREID_TESTING": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: the production HTTPS redirects and secure cookies would get in the way.
        "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
    })
    return env


def setup_django(env: dict) -> None:
    for key in ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DEMO_MODE"):
        if key in env:
            os.environ[key] = env[key]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slreid_site.settings")
    import django

    django.setup()


def prepare_site(args, env: dict) -> None:
    """Migrate, load the demo catalog and create the partners (idempotent)."""
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "load_demo", "--individuals", str(args.demo_individuals), "--size", args.size],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def create_partners(n: int) -> list[str]:
    from django.contrib.auth.models import User

    from catalog.models import Membership, Organization, Role

    org, _ = Organization.objects.get_or_create(slug=ORG_SLUG, defaults={"name": "Load test partners"})
    names = []
    for i in range(n):
        user, created = User.objects.get_or_create(username=f"load-partner-{i:02d}")
        if created or not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.CONTRIBUTOR})
        names.append(user.username)
    return names


def start_servers(args, env: dict, port: int, log_dir: Path) -> list[subprocess.Popen]:
    bin_dir = Path(sys.executable).parent
    procs = []
    logs = {name: open(log_dir / f"{name}.log", "w") for name in ("web", "interactive", "bulk")}
    procs.append(subprocess.Popen(
        [str(bin_dir / "gunicorn"), "slreid_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(args.web_workers),
         "-k", "gthread", "--threads", str(args.web_threads), "--timeout", "120",
         # Longer than any client's pause between requests, so an idle keep-alive connection is
         # never closed just as the client reuses it (as a reverse proxy would do it).
         "--keep-alive", "75"],
        cwd=ROOT, env=env, stdout=logs["web"], stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_die_with_parent))
    # run_qcluster, not qcluster: the stop below signals each process group, which leaves django-q2's
    # plain qcluster hanging. Every server gets one TERM if this script dies, however it dies.
    procs.append(subprocess.Popen([sys.executable, "manage.py", "run_qcluster"], cwd=ROOT, env=env,
                                  stdout=logs["interactive"], stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=_die_with_parent))
    procs.append(subprocess.Popen([sys.executable, "manage.py", "run_qcluster"], cwd=ROOT,
                                  env={**env, "Q_CLUSTER_NAME": "bulk"}, stdout=logs["bulk"], stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=_die_with_parent))
    return procs


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def stop_servers(procs: list[subprocess.Popen]) -> None:
    # One stop, whatever else arrives meanwhile (a second Ctrl-C would abandon the servers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            # Longer than run_qcluster's Q_STOP_GRACE_SECONDS, after which it kills a busy cluster itself.
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    leftover = [proc.args for proc in procs if proc.poll() is None]
    if leftover:
        print("still running after the stop:", leftover, file=sys.stderr)


# ---- the partners ----------------------------------------------------------------------------

@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    accepted: list[int] = field(default_factory=list)  # sighting ids the server said it stored
    runs: dict[int, int] = field(default_factory=dict)  # run id -> sighting id
    identify_seconds: list[float] = field(default_factory=list)  # start → result seen by the partner
    unfinished: list[int] = field(default_factory=list)

    def record(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.setdefault(kind, []).append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")


class Partner(threading.Thread):
    def __init__(self, index: int, username: str, base: str, args, stats: Stats, photos, stop_at: float, give_up_at: float):
        super().__init__(name=username, daemon=True)
        import requests

        self.index, self.username, self.base, self.args, self.stats = index, username, base, args, stats
        self.photos, self.stop_at, self.give_up_at = photos, stop_at, give_up_at
        self.http = requests.Session()
        self.counter = 0

    def call(self, kind: str, method: str, path: str, expect=(200, 302), **kw):
        started = time.monotonic()
        try:
            response = self.http.request(method, self.base + path, timeout=120, allow_redirects=False, **kw)
        except Exception as exc:  # network errors count, the partner goes on
            self.stats.record(kind, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            return None
        error = None if response.status_code in expect else f"HTTP {response.status_code} {path}"
        self.stats.record(kind, time.monotonic() - started, error)
        return response if error is None else None

    def csrf(self) -> str:
        return self.http.cookies.get("csrftoken", "")

    def login(self) -> bool:
        if self.call("login page", "GET", "/accounts/login/") is None:
            return False
        r = self.call("login", "POST", "/accounts/login/", data={
            "username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": self.csrf()})
        return r is not None and r.status_code == 302

    def unique_photos(self) -> list[tuple[str, bytes, str]]:
        from PIL import Image, ImageDraw

        self.counter += 1
        files = []
        for k in range(self.args.photos):
            base = self.photos[(self.index + self.counter + k) % len(self.photos)].copy()
            # A tag in the info bar makes every photo's pixels unique (duplicates are refused).
            ImageDraw.Draw(base).text((4, base.height - 12), f"{self.username} {RUN_TOKEN} #{self.counter}.{k}", fill=(255, 255, 255))
            exif = Image.Exif()
            exif.get_ifd(0x8769)[36867] = time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(1700000000 + self.counter * 600 + k))
            out = io.BytesIO()
            base.save(out, "JPEG", quality=88, exif=exif)
            files.append(("files", (f"IMG_{self.counter:04d}_{k}.JPG", out.getvalue(), "image/jpeg")))
        return files

    def submit_one(self) -> None:
        page = self.call("submit page", "GET", "/submit/")
        if page is None:
            return
        org = re.search(r'name="organization"[^>]*>\s*<option value="(\d+)"', page.text)
        r = self.call("upload", "POST", "/submit/", data={
            "csrfmiddlewaretoken": self.csrf(), "organization": org.group(1) if org else "", "body_part": "left_flank",
        }, files=self.unique_photos(), expect=(302, 200))
        if r is None:
            return
        if r.status_code == 200:  # the form came back: say why (refused files, form errors)
            reasons = re.findall(r'<tr class="file-refused"><td>([^<]*)</td>\s*<td>([^<]*)<', r.text)
            reasons += re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</', r.text, flags=re.S)
            with self.stats.lock:
                self.stats.errors.append(f"upload refused: {reasons or r.text[:300]}")
            return
        match = re.search(r"/sightings/(\d+)/edit/", r.headers.get("Location", ""))
        if not match:
            self.stats.record("upload", 0, f"unexpected redirect {r.headers.get('Location')}")
            return
        sighting = int(match.group(1))
        with self.stats.lock:
            self.stats.accepted.append(sighting)
        edit = self.call("photos page", "GET", f"/sightings/{sighting}/edit/")
        if edit is None:
            return
        observed = re.search(r'name="observed_at" value="([^"]+)"', edit.text)
        form = {"csrfmiddlewaretoken": self.csrf(), "observed_at": observed.group(1) if observed else "",
                "notes": "load test", "identify": "1"}
        for image_id in re.findall(r'name="body_part-(\d+)"', edit.text):
            form[f"body_part-{image_id}"] = "left_flank"
            form[f"box-{image_id}"] = ""
            form[f"box_source-{image_id}"] = ""
        if self.call("save photos", "POST", f"/sightings/{sighting}/edit/", data=form, expect=(302,)) is None:
            return
        start_page = self.call("identify page", "GET", f"/sightings/{sighting}/identify/")
        if start_page is None:
            return
        extractor = self.args.extractor or (re.search(r'<option value="([^"]+)" selected', start_page.text) or [None, ""])[1]
        started = time.monotonic()
        r = self.call("start identification", "POST", f"/sightings/{sighting}/identify/", data={
            "csrfmiddlewaretoken": self.csrf(), "extractor": extractor}, expect=(302,))
        if r is None:
            return
        run = int(re.search(r"/runs/(\d+)/", r.headers["Location"]).group(1))
        with self.stats.lock:
            self.stats.runs[run] = sighting
        self.call("progress page", "GET", f"/runs/{run}/")
        while True:
            status = self.call("status json", "GET", f"/runs/{run}/status.json")
            if status is not None:
                data = status.json()
                if data["finished"]:
                    if data["state"] == "failed":
                        self.stats.record("identification", 0, f"run {run} failed: {data['error'][:200]}")
                    break
            if time.monotonic() > self.give_up_at:
                with self.stats.lock:
                    self.stats.unfinished.append(run)
                return
            time.sleep(self.args.poll)
        with self.stats.lock:
            self.stats.identify_seconds.append(time.monotonic() - started)
        results = self.call("results page", "GET", f"/runs/{run}/")
        overlay = re.search(r'src="(/candidates/\d+/overlay\.png)\?lines=1"', results.text) if results else None
        if overlay:
            self.call("overlay png", "GET", overlay.group(1) + "?lines=1")

    def run(self) -> None:
        if not self.login():
            return
        while time.monotonic() < self.stop_at:
            self.submit_one()


def base_photos(size: str) -> list:
    from catalog.demo import render_photo

    w, h = (int(v) for v in size.split("x"))
    # New variants (the demo catalog uses 0-5) of catalog individuals and of cats it lacks.
    return [render_photo(individual, 10 + variant, "left_flank", (w, h)) for individual in (1, 2, 3, 30) for variant in (0, 1)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def verify(stats: Stats, started_wall) -> dict:
    """Lost and stuck, from the database itself."""
    from django.db import close_old_connections

    from catalog.models import Sighting, SightingStatus
    from matching.models import MatchRun, RunState

    close_old_connections()
    accepted = set(stats.accepted)
    stored = dict(Sighting.objects.filter(pk__in=accepted).values_list("pk", "status"))
    image_counts = {pk: Sighting.objects.get(pk=pk).images.count() for pk in stored}
    lost = sorted(pk for pk in accepted if pk not in stored or image_counts.get(pk, 0) == 0)
    ours = Sighting.objects.filter(organization__slug=ORG_SLUG, created_at__gte=started_wall)
    stuck_sightings = sorted(ours.filter(status__in=[SightingStatus.SUBMITTED, SightingStatus.IDENTIFYING])
                             .values_list("pk", flat=True))
    active_runs = list(MatchRun.objects.filter(pk__in=stats.runs, state__in=[RunState.QUEUED, RunState.EXTRACTING, RunState.MATCHING])
                       .values_list("pk", flat=True))
    failed_runs = MatchRun.objects.filter(pk__in=stats.runs, state=RunState.FAILED).count()
    return {
        "lost": lost, "stuck_sightings": stuck_sightings, "active_runs": active_runs, "failed_runs": failed_runs,
        "unknown_to_clients": ours.exclude(pk__in=accepted).count(),
        "awaiting_review": ours.filter(status=SightingStatus.AWAITING_REVIEW).count(),
        "sightings": ours.count(),
    }


def wait_for_http(url: str, seconds: float) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/accounts/login/", timeout=5).status_code == 200:
                return
        except Exception:
            pass
        time.sleep(0.5)
    sys.exit("the site did not come up")


def warm_up(base: str, args, username: str, photos) -> float:
    """One identification before the clock starts: builds the worker's index of the catalog."""
    stats = Stats()
    partner = Partner(0, username, base, args, stats, photos, stop_at=0, give_up_at=time.monotonic() + args.warmup_timeout)
    partner.counter = 10_000  # its photos must not be those the same partner sends later (duplicates are refused)
    started = time.monotonic()
    if not partner.login():
        sys.exit(f"warm-up login failed: {stats.errors}")
    partner.submit_one()
    if stats.errors or not stats.identify_seconds:
        sys.exit(f"warm-up identification failed: {stats.errors}")
    return time.monotonic() - started


def main() -> None:
    args = parse_args()
    procs: list[subprocess.Popen] = []
    env = server_env(args) if args.spawn else dict(os.environ)
    base = args.url.rstrip("/")
    log_dir = Path(tempfile.mkdtemp(prefix="slreid-load-logs-"))
    # A TERM (timeout, a CI job's cancel) unwinds like Ctrl-C, so that `finally` stops the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.spawn:
            prepare_site(args, env)
            base = base or f"http://127.0.0.1:{free_port()}"
        if not base:
            sys.exit("give --url of a running site, or --spawn")
        require_loopback(base)
        setup_django(env)
        from django.conf import settings
        from django.utils import timezone

        partners = create_partners(args.partners)
        if args.spawn:
            procs = start_servers(args, env, int(urlsplit(base).port), log_dir)
        wait_for_http(base, 60)
        photos = base_photos(args.size)
        warm = warm_up(base, args, partners[0], photos)
        print(f"warm-up identification (index build included): {warm:.1f} s", flush=True)

        stats = Stats()
        started_wall = timezone.now()
        t0 = time.monotonic()
        threads = [Partner(i, name, base, args, stats, photos, stop_at=t0 + args.duration,
                           give_up_at=t0 + args.duration + args.drain) for i, name in enumerate(partners)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        checks = verify(stats, started_wall)
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = "redis" if settings.Q_CLUSTER.get("redis") else "orm"
        errors = len(stats.errors)  # failed runs are among them: the partners record them
        print()
        print(f"database {db}, broker {broker}, extractor {args.extractor or settings.MATCHING_DEFAULT_EXTRACTOR}, "
              f"{args.partners} partners, {args.duration:.0f} s of submissions, {elapsed:.0f} s until all results were in")
        print(f"requests {stats.requests}  errors {errors}  lost {len(checks['lost'])}  "
              f"stuck {len(checks['stuck_sightings']) + len(checks['active_runs']) + len(stats.unfinished)}")
        print(f"sightings submitted {len(stats.accepted)}, identified and awaiting review {checks['awaiting_review']}, "
              f"failed runs {checks['failed_runs']}, stored but unknown to clients {checks['unknown_to_clients']}")
        ident = stats.identify_seconds
        print(f"identification wait seen by partners (queue + engine): median {percentile(ident, .5):.1f} s, "
              f"p95 {percentile(ident, .95):.1f} s, max {max(ident) if ident else float('nan'):.1f} s")
        for kind, values in sorted(stats.latencies.items()):
            print(f"  {kind:22s} n={len(values):5d}  median {1000 * statistics.median(values):7.0f} ms  "
                  f"p95 {1000 * percentile(values, .95):7.0f} ms")
        for error in stats.errors[:20]:
            print("  error:", error)
        if checks["lost"] or checks["stuck_sightings"] or checks["active_runs"]:
            print("  lost:", checks["lost"], "stuck sightings:", checks["stuck_sightings"], "active runs:", checks["active_runs"])
        print(f"server logs: {log_dir}; data: {env.get('DATA_DIR') or env.get('DATABASE_URL')}")
        ok = not (errors or checks["lost"] or checks["stuck_sightings"] or checks["active_runs"] or stats.unfinished)
        sys.exit(0 if ok else 1)
    finally:
        stop_servers(procs)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: main's `finally` has stopped the servers
        print("interrupted", file=sys.stderr)
        sys.exit(130)
