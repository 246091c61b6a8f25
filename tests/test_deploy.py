"""`manage.py check --deploy` is clean with the production values of .env.example."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            if value.strip():
                values[key.strip()] = value.strip()
    return values


def _run(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_with_production_env(tmp_path):
    env = _env_example()
    assert env["DEBUG"] == "0"
    # The operator replaces the placeholder key; everything else is as documented.
    env.update(SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="slreid.example.org", DATA_DIR=str(tmp_path))
    result = _run(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_by_default_and_a_secret_key_is_required(tmp_path):
    result = _run({"DATA_DIR": str(tmp_path)}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    result = _run({"DATA_DIR": str(tmp_path), "SECRET_KEY": secrets.token_urlsafe(50)}, "shell", "-c",
                  "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["False", "True"]


def test_the_installation_key_file_stands_in_for_an_unset_secret_key(tmp_path):
    (tmp_path / "secret_key").write_text("key-written-by-make-install\n")
    result = _run({"DATA_DIR": str(tmp_path)}, "shell", "-c",
                  "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["key-written-by-make-install", "False"]
