"""Settings for the snow-leopard identification platform.

One module, every deploy knob read from the environment (see .env.example).
"""

import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# Under pytest (or SLREID_TESTING=1): plain-HTTP test client and a throwaway key.
TESTING = env_bool("SLREID_TESTING", False) or "pytest" in sys.modules
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY")
# `make install` writes a random key for this installation here, so that management commands and
# the local server run without exporting one; a deployment sets SECRET_KEY in its environment.
_SECRET_KEY_FILE = DATA_DIR / "secret_key"
if not SECRET_KEY and _SECRET_KEY_FILE.is_file():
    SECRET_KEY = _SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "insecure-development-key-only-for-debug-and-tests"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "leaflet",
    "csp",
    "axes",
    "catalog",
    "matching",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a lockout into its answer page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "slreid_site.urls"
WSGI_APPLICATION = "slreid_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "catalog.context_processors.site",
            ],
        },
    },
]

# SQLite is the embedded default; DATABASE_URL switches to PostgreSQL with no code change.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a generous busy timeout: the web server and the worker write concurrently,
    # and "database is locked" is the classic failure of the embedded default.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_TIMEOUT", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env_str("SQLITE_TEST_NAME", "") or None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
# Only languages whose catalogs (locale/<code>/LC_MESSAGES/django.po and djangojs.po) are at least
# 95 % translated are offered: a half-translated menu is worse than English.
# tests/catalog/test_i18n.py checks each one; the README says how to add a language.
LANGUAGES = [
    ("en", _("English")),
    ("ru", _("Russian")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads: limits that keep decompression bombs, huge scans and huge tables out of memory.
# Uploaded files stream to temporary files past FILE_UPLOAD_MAX_MEMORY_SIZE, and the first handler
# stops taking a file's bytes at its limit (a photo, a zip on /submit/, a bulk-import package), so an
# oversized upload costs neither memory nor more than its limit of disk.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 40 * 1024 * 1024)
UPLOAD_ARCHIVE_MAX_BYTES = env_int("UPLOAD_ARCHIVE_MAX_BYTES", 400 * 1024 * 1024)
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 20 * 1024 * 1024 * 1024)
IMPORT_MAX_TABLE_ROWS = env_int("IMPORT_MAX_TABLE_ROWS", 200_000)
IMPORT_MAX_TABLE_CHARS = env_int("IMPORT_MAX_TABLE_CHARS", 64 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 60_000_000)
UPLOAD_MAX_SIDE = env_int("UPLOAD_MAX_SIDE", 12000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 200)
FILE_UPLOAD_HANDLERS = [
    "catalog.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Exact coordinates are shown only to the owning organisation and site admins;
# everyone else sees them snapped to this grid (degrees).
COORDINATE_GRID_DEGREES = env_float("COORDINATE_GRID_DEGREES", 0.1)

# Identification engine.
MATCHING_DEVICE = env_str("MATCHING_DEVICE", "auto")  # auto | cpu | cuda | cuda:1
# XFeat + LighterGlue: about 10x faster to extract than ALIKED on CPU (docs/benchmarks.md).
MATCHING_DEFAULT_EXTRACTOR = env_str("MATCHING_DEFAULT_EXTRACTOR", "xfeat")
# Keypoints kept per image: LightGlue's cost grows with the square of it.
MATCHING_MAX_KEYPOINTS = env_int("MATCHING_MAX_KEYPOINTS", 1024)
MATCHING_WEIGHTS_DIR = env_str("MATCHING_WEIGHTS_DIR", str(DATA_DIR / "weights"))
MATCHING_SHORTLIST = env_int("MATCHING_SHORTLIST", 6)  # gallery images LightGlue-verified per query image
# Identification modes (matching/engine/accurate.py): "fast" is the default extractor with the
# shortlist above; "accurate" runs MATCHING_ACCURATE_EXTRACTOR against the best reference images
# of the sighting's MATCHING_ACCURATE_INDIVIDUALS most-voted individuals and fuses the frames.
# Fast is the default: on the 2026-12-01 dev split, with the location prior, accurate is ahead by one
# sighting of 18 (and more frames; docs/benchmarks.md), within the noise of the sample, and fast answers
# in seconds where accurate takes half a minute.
MATCHING_DEFAULT_MODE = env_str("MATCHING_DEFAULT_MODE", "fast")
MATCHING_ACCURATE_EXTRACTOR = env_str("MATCHING_ACCURATE_EXTRACTOR", "aliked")
MATCHING_ACCURATE_INDIVIDUALS = env_int("MATCHING_ACCURATE_INDIVIDUALS", 10)
MATCHING_ACCURATE_PER_INDIVIDUAL = env_int("MATCHING_ACCURATE_PER_INDIVIDUAL", 2)
MATCHING_ACCURATE_MAX_FRAMES = env_int("MATCHING_ACCURATE_MAX_FRAMES", 3)
# Catalog images without features that one identification may extract itself; the rest wait for the
# bulk queue and the results page says how many were left out (an import of hundreds of photos
# otherwise made the next identification extract them all while the user waited).
MATCHING_EXTRACT_IN_RUN = env_int("MATCHING_EXTRACT_IN_RUN", 20)
# Rank candidates by the pattern score and where each cat has been seen (matching/engine/prior.py);
# reviewers can switch it off per run. Off: the pattern score alone orders the candidates.
MATCHING_LOCATION_PRIOR = env_bool("MATCHING_LOCATION_PRIOR", True)
DETECTOR_ENABLED = env_bool("DETECTOR_ENABLED", True)

# Queue: interactive identification and bulk work run on separate clusters (queues), so
# an interactive sighting never waits behind an import or a re-index.
REDIS_URL = env_str("REDIS_URL")
Q_TIMEOUT = env_int("Q_TIMEOUT", 600)
Q_CLUSTER = {
    "name": "interactive",  # Q_CLUSTER_NAME=bulk in the environment starts the bulk cluster
    "workers": env_int("Q_WORKERS", 2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "label": "Django Q2",
    "ALT_CLUSTERS": {
        "bulk": {"workers": 1, "timeout": env_int("Q_BULK_TIMEOUT", 3600), "retry": env_int("Q_BULK_TIMEOUT", 3600) + 120},
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# E-mail (notifications): printed to the console under DEBUG (`make run`), SMTP otherwise.
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "Snow leopard ID <noreply@localhost>"

QUEUE_INTERACTIVE = "interactive"
QUEUE_BULK = "bulk"
# A working identification writes a heartbeat this often; after the stale delay without one its
# worker is taken for dead and the run is queued again (far sooner than the queue's own `retry`).
MATCHING_HEARTBEAT_SECONDS = env_float("MATCHING_HEARTBEAT_SECONDS", 5.0)
MATCHING_HEARTBEAT_STALE_SECONDS = env_int("MATCHING_HEARTBEAT_STALE_SECONDS", 60)
# `manage.py run_qcluster` kills a cluster still stopping this long after its TERM (a long task).
Q_STOP_GRACE_SECONDS = env_int("Q_STOP_GRACE_SECONDS", 20)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Snow leopard identification API",
    "DESCRIPTION": "Sightings, images, identification results and review decisions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Docs UI assets come from the drf-spectacular-sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SightingStatusEnum": "catalog.models.SightingStatus",
        "IndividualStatusEnum": "catalog.models.IndividualStatus",
        "BodyPartEnum": "catalog.models.BodyPart",
    },
}

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (40.5, 75.0),
    "DEFAULT_ZOOM": 6,
    "MIN_ZOOM": 2,
    "MAX_ZOOM": 18,
    "TILES": [
        (
            "OpenStreetMap",
            env_str("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
            {"attribution": env_str("MAP_TILE_ATTRIBUTION", "&copy; OpenStreetMap contributors"), "maxZoom": 18},
        )
    ],
    "RESET_VIEW": False,
}

# ---------------------------------------------------------------------------------------------
# Browser and login hardening (issue 13): Content-Security-Policy, login lockout, API throttling.
# ---------------------------------------------------------------------------------------------
from csp.constants import NONE, SELF  # noqa: E402


def _tile_source(url: str) -> str | None:
    """The CSP source of a Leaflet tile URL: its scheme and host, {s} subdomains as a wildcard."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None  # a tile server under this site: 'self' covers it
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


_TILE_SOURCES = [
    source
    for _label, url, _attrs in [*LEAFLET_CONFIG["TILES"], *LEAFLET_CONFIG.get("OVERLAYS", [])]
    if (source := _tile_source(url))
]
# No inline script anywhere (scripts are static files, data goes through json_script or data-
# attributes), so a stored text that slips into a page still cannot run. The API docs pages
# relax style-src only for themselves (catalog/api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # The map's tiles, and data: for the blank image Leaflet puts in a tile it drops.
        "img-src": [SELF, "data:", *_TILE_SOURCES, *env_list("CSP_EXTRA_IMG_SRC")],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login lockout (django-axes), per account and per address, for the login form and /api/token/.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Either limit locks: one account tried from many addresses, or many accounts from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # the limit counts failures in a row
AXES_LOCKOUT_CALLABLE = "catalog.login_limits.lockout_response"
AXES_CLIENT_IP_CALLABLE = "catalog.login_limits.client_ip"

# API throttling (DRF). The counters live in the default cache: per process unless CACHE_URL names
# a Redis server for all of them (the lockout above is in the database, shared in any case).
if env_str("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL")}}
# 0: REMOTE_ADDR only; DRF would otherwise trust a client-sent X-Forwarded-For.
REST_FRAMEWORK["NUM_PROXIES"] = env_int("NUM_PROXIES", 1) if env_bool("BEHIND_PROXY") else 0
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "rest_framework.throttling.AnonRateThrottle",
    "rest_framework.throttling.UserRateThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env_str("API_THROTTLE_ANON", "60/minute"),
    "user": env_str("API_THROTTLE_USER", "1200/minute"),
    # /api/token/: per address and per account named in the request.
    "token": env_str("API_THROTTLE_TOKEN", "20/minute"),
    "token_account": env_str("API_THROTTLE_TOKEN_ACCOUNT", "10/minute"),
}

# Production hardening; on by default when DEBUG is off (outside the test runner).
_PRODUCTION = not DEBUG and not TESTING
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY") else None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

DEMO_MODE = env_bool("DEMO_MODE", False)

# Media storage. The local directory (MEDIA_ROOT) is the embedded default; S3_BUCKET moves photos,
# thumbnails, overlays, feature files and import uploads to an S3-compatible bucket, so that web
# servers and workers on other machines all see the same files. The bucket stays private: objects
# get no ACL (the bucket's own policy, which must not be public) and any URL is signed.
S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")  # empty: AWS itself; e.g. http://127.0.0.1:8333 (SeaweedFS, MinIO)
# 0 streams photos through the scoped views; N > 0 redirects those views to a URL signed for N
# seconds instead (the endpoint must then be reachable from the users' browsers).
S3_SIGNED_URL_SECONDS = env_int("S3_SIGNED_URL_SECONDS", 0)
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,  # empty: boto3's chain (role, ~/.aws)
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("S3_PREFIX"),
            # Self-hosted servers rarely have wildcard DNS for virtual-host buckets.
            "addressing_style": env_str("S3_ADDRESSING_STYLE", "path" if S3_ENDPOINT_URL else "") or None,
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": max(S3_SIGNED_URL_SECONDS, 1),
            # Like FileSystemStorage: a taken name gets a suffix instead of replacing an object.
            "file_overwrite": False,
            # Files read through storage spill to a temporary file past this size (0 would keep
            # a whole 40 MB scan in memory per open file).
            "max_memory_size": env_int("S3_MAX_MEMORY_SIZE", FILE_UPLOAD_MAX_MEMORY_SIZE),
        },
    }

# Static files: WhiteNoise serves STATIC_ROOT (after collectstatic) from the application server,
# compressed; STATIC_MANIFEST=1 adds content-hashed names cached for a year (collectstatic is
# then required before the server starts). A reverse proxy may serve STATIC_ROOT instead.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")
# Tests and DEBUG look files up per request (no collectstatic, no warning about a missing STATIC_ROOT).
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
if not TESTING:
    STORAGES["staticfiles"] = {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if env_bool("STATIC_MANIFEST")
        else "whitenoise.storage.CompressedStaticFilesStorage"
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"drop_queue_enqueued": {"()": "slreid_site.log_filters.DropQueueEnqueued"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # One INFO line per enqueued task (dozens while the demo loads); warnings and errors still show.
        "django-q": {"filters": ["drop_queue_enqueued"]},
        # faiss logs at INFO, when imported, each CPU build it tries ("Could not load library with
        # AVX512 support"), which reads like an error; Django configures logging before faiss is imported.
        "faiss.loader": {"level": "WARNING"},
        # django-axes announces its version at INFO on every command ("AXES: BEGIN version ...").
        "axes.apps": {"level": "WARNING"},
    },
}
