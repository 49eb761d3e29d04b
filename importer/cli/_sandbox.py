"""``relimport sandbox serve``: the built-in API emulator over HTTP, on loopback only.

Every limit and fault of the sandbox is an option, generated from the fields of
:class:`importer.sandbox.Limits` and :class:`importer.sandbox.FaultPlan` and their docs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click


@click.group()
def sandbox() -> None:
    """The built-in API emulator (the default target)."""


def _fault_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """One option per field of Limits and FaultPlan, with the field's own documentation."""
    from importer.sandbox.faults import FaultPlan, Limits, field_docs

    for model in (FaultPlan, Limits):
        docs = field_docs(model)
        for field in reversed(dataclasses.fields(model)):
            default = getattr(model(), field.name)
            name = "--" + field.name.replace("_", "-")
            if isinstance(default, bool):
                option = click.option(
                    f"{name}/--no-{name[2:]}",
                    field.name,
                    default=default,
                    show_default=True,
                    help=docs[field.name],
                )
            else:
                kind = float if "float" in str(field.type) else int
                option = click.option(
                    name,
                    field.name,
                    type=kind,
                    default=default,
                    show_default=True,
                    help=docs[field.name],
                )
            function = option(function)
    return function


@sandbox.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on."
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free).",
)
@_fault_options
def serve(host: str, port: int, **options: Any) -> None:
    """Serve the sandbox over HTTP on loopback until Ctrl-C."""
    from importer.sandbox import FaultPlan, Limits, Sandbox, serve_forever

    names = {f.name for f in dataclasses.fields(Limits)}
    try:
        emulator = Sandbox(
            limits=Limits(**{k: v for k, v in options.items() if k in names}),
            faults=FaultPlan(**{k: v for k, v in options.items() if k not in names}),
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    from importer.cli._language import say

    def ready(url: str) -> None:
        say(f"Sandbox API on {url} (Ctrl-C to stop).", err=True)

    try:
        serve_forever(emulator, host, port, ready=ready)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.UsageError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "pick another --port, or --port 0 for any free one"
        ) from None
    except KeyboardInterrupt:
        say("Sandbox stopped.", err=True)
