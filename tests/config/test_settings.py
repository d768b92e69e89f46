"""Settings fail safe: production refuses to start without its secrets, development keeps its
generated keys stable, and ``check --deploy`` is clean under the documented environment."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ruralwatch.config import env as cfg
from tests.shared import REPO

DEPLOY_DOC = REPO / "docs" / "deploy.md"


def _clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any RuralWatch or Django setting, plus ``extra``."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RURALWATCH_")
        and k not in cfg.SECRET_NAMES
        and k not in {"DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"}
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"  # set by the test suite, refused by check --deploy
    }
    return keep | {"DJANGO_SETTINGS_MODULE": "ruralwatch.config.settings"} | extra


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def documented_production_env(tmp_path: Path) -> dict[str, str]:
    """The environment file of docs/deploy.md, with real secrets in place of the placeholders
    and a scratch SQLite database."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- env-file -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no environment-file block"
    values = cfg.read_env_file_text(block.group(1))
    assert set(cfg.SECRET_NAMES) <= set(values), "the environment file names every secret"
    values |= cfg.generate_secrets()
    values["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    values["RURALWATCH_VAR"] = str(tmp_path / "var")
    return _clean_env(**values)


@pytest.mark.parametrize("missing", cfg.SECRET_NAMES)
def test_production_refuses_to_start_without_a_secret(tmp_path: Path, missing: str) -> None:
    env = _clean_env(RURALWATCH_VAR=str(tmp_path / "var"), **cfg.generate_secrets())
    del env[missing]
    proc = _run([sys.executable, "-c", "import django; django.setup()"], env, tmp_path)
    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {missing} is not set" in proc.stderr
    assert cfg.GENERATE[missing] in proc.stderr  # says how to make one
    assert not (tmp_path / "var" / "secrets.env").exists()  # nothing generated in production


def test_the_command_line_refuses_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = _clean_env(RURALWATCH_VAR=str(tmp_path / "var"))
    proc = _run([sys.executable, "-m", "ruralwatch", "users", "list"], env, tmp_path)
    assert proc.returncode == 2
    assert "SECRET_KEY is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RURALWATCH_FIELD_KEY", "not-a-key", "RURALWATCH_FIELD_KEY is not a list of Fernet keys"),
        ("SECRET_KEY", "short", "SECRET_KEY is too short"),
        ("RURALWATCH_HASH_KEY", "x" * 8, "RURALWATCH_HASH_KEY is too short"),
    ],
)
def test_weak_secrets_are_refused(tmp_path: Path, name: str, value: str, message: str) -> None:
    environ = cfg.generate_secrets() | {name: value}
    with pytest.raises(ImproperlyConfigured, match=message):
        cfg.resolve_secrets(development=False, var_dir=tmp_path, environ=environ)


def test_check_deploy_is_clean_under_the_documented_production_environment(
    tmp_path: Path,
) -> None:
    env = documented_production_env(tmp_path)
    proc = _run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, len(s.AUTH_PASSWORD_VALIDATORS), s.DEBUG)"
    )
    out = _run([sys.executable, "-c", probe], env, tmp_path).stdout.split()
    assert out == ["True", "True", "True", "True", "4", "False"]


def test_without_the_documented_environment_check_deploy_warns(tmp_path: Path) -> None:
    """The test above can fail: switching the production defaults off is reported."""
    env = documented_production_env(tmp_path) | {
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
    }
    proc = _run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env,
        tmp_path,
    )
    assert proc.returncode != 0
    assert "security.W004" in proc.stderr + proc.stdout
    assert "security.W008" in proc.stderr + proc.stdout


def test_development_secrets_are_made_once_private_and_shared(tmp_path: Path) -> None:
    found: list[dict[str, str]] = []
    threads = [
        threading.Thread(target=lambda: found.append(cfg.development_secrets(tmp_path)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and all(f == found[0] for f in found)  # one set, whoever came first
    path = tmp_path / cfg.DEV_SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind
    # Later runs read the same keys: data encrypted with them stays readable.
    again = cfg.resolve_secrets(development=True, var_dir=tmp_path, environ={})
    assert again == found[0]
    # The environment still wins over the stored file.
    key = cfg.generate_secrets()["RURALWATCH_FIELD_KEY"]
    mixed = cfg.resolve_secrets(
        development=True, var_dir=tmp_path, environ={"RURALWATCH_FIELD_KEY": key}
    )
    assert mixed["RURALWATCH_FIELD_KEY"] == key and mixed["SECRET_KEY"] == found[0]["SECRET_KEY"]


def test_bad_values_name_their_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        cfg.env_bool("DEBUG", False, environ={"DEBUG": "maybe"})
    with pytest.raises(ImproperlyConfigured, match="RURALWATCH_DB_POOL_SIZE=-1 is out of range"):
        cfg.env_int(
            "RURALWATCH_DB_POOL_SIZE", 0, minimum=0, environ={"RURALWATCH_DB_POOL_SIZE": "-1"}
        )
    with pytest.raises(ImproperlyConfigured, match="not a number"):
        cfg.env_float("X", 1.0, environ={"X": "abc"})
    with pytest.raises(ImproperlyConfigured, match="must be a number of at least"):
        cfg.env_float("X", 1.0, minimum=0.0, environ={"X": "nan"})
    with pytest.raises(ImproperlyConfigured, match="RURALWATCH_ENV='staging' must be one of"):
        cfg.env_choice(
            "RURALWATCH_ENV",
            ("production", "development"),
            "production",
            environ={"RURALWATCH_ENV": "staging"},
        )
    assert cfg.env_list("ALLOWED_HOSTS", ["a"], environ={"ALLOWED_HOSTS": " x, ,y "}) == ["x", "y"]


def test_too_few_days_of_village_detail_stop_start_up(tmp_path: Path) -> None:
    from django.conf import settings

    from ruralwatch.cycle.retention import MIN_KEEP_DAYS

    assert settings.KEEP_VILLAGE_DAYS_AT_LEAST == MIN_KEEP_DAYS
    env = _clean_env(
        RURALWATCH_VAR=str(tmp_path / "var"),
        RURALWATCH_KEEP_VILLAGE_DAYS="30",
        **cfg.generate_secrets(),
    )
    proc = _run([sys.executable, "-c", "import django; django.setup()"], env, tmp_path)
    assert proc.returncode != 0
    assert "RURALWATCH_KEEP_VILLAGE_DAYS=30 is fewer than the 90 days" in proc.stderr
    env["RURALWATCH_KEEP_VILLAGE_DAYS"] = "120"
    assert (
        _run([sys.executable, "-c", "import django; django.setup()"], env, tmp_path).returncode == 0
    )
