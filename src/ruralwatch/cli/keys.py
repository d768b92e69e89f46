"""``ruralwatch keys``: make the secrets of a new installation; rotate the field-encryption keys.

Rotation (docs/deploy.md): put a new key first in ``RURALWATCH_FIELD_KEY`` (``new,old``),
restart, run ``ruralwatch keys rotate``, then drop the old key once it reports none left.
"""

from __future__ import annotations

import typer

from ruralwatch.cli._runtime import console, django_setup, out, progress_bar

keys_app = typer.Typer(help="Generate secrets; rotate the keys of personal fields at rest.")


@keys_app.command("generate")
def generate() -> None:
    """Print a fresh SECRET_KEY, RURALWATCH_FIELD_KEY and RURALWATCH_HASH_KEY as environment-file
    lines (for a new installation; to rotate, see ``keys rotate``)."""
    from ruralwatch.config.env import generate_secrets

    for name, value in generate_secrets().items():
        out.print(f"{name}={value}", highlight=False, markup=False)


@keys_app.command("rotate")
def rotate(
    rehash: bool = typer.Option(
        False,
        "--rehash",
        help="Also recompute the keyed hashes of ID numbers under the current "
        "RURALWATCH_HASH_KEY (after changing it).",
    ),
) -> None:
    """Re-encrypt every personal field with the first key of RURALWATCH_FIELD_KEY."""
    django_setup()
    from ruralwatch.config.keys import pending_old_tokens, rotate_field_keys

    with progress_bar() as update:
        summary = rotate_field_keys(rehash=rehash, progress=update)
    for what, counts in (
        ("re-encrypted", summary.rotated),
        ("re-hashed", summary.rehashed),
        ("unreadable with every configured key", summary.unreadable),
    ):
        for name, n in sorted(counts.items()):
            out.print(f"{name}: {n:,} {what}", highlight=False)
    left = pending_old_tokens()
    console.print(
        f"values still under an old key: {left:,}"
        + (" — the old keys can be removed from RURALWATCH_FIELD_KEY" if left == 0 else ""),
        highlight=False,
    )
    if summary.unreadable:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
