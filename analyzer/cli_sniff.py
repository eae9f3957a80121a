"""``pushcap sniff`` and ``pushcap interfaces``: diagnose a push that hangs right now.

This module only declares the commands; the capture and its session are
:mod:`analyzer.sniff_session`, imported when ``sniff`` runs (see there for how
it works), so that ``pushcap analyze`` and ``audit`` never load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from analyzer.errors import AnalyzerError
from analyzer.pipeline import AnalyzerOptions
from analyzer.runner import EXIT_OK, fail

DEFAULT_PORT = 8200
COMMON_PORTS = (443, 5000)  # HTTPS, and the registry image's own default


class SniffFormat(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


@dataclass(frozen=True, slots=True)
class SniffConfig:
    iface: str
    ports: tuple[int, ...]
    bpf: str | None  # replaces the default filter
    write: str | None
    duration: float | None
    count: int | None
    until_diagnosis: bool
    output: SniffFormat
    no_color: bool
    quiet: bool
    options: AnalyzerOptions


def no_scapy(exc: ImportError) -> AnalyzerError:
    return AnalyzerError(
        f"live capture needs scapy, which could not be loaded: {exc}",
        hint="install it with `pip install 'pushcap[live]'`; or capture with "
        "`tcpdump -w FILE` and run `pushcap analyze FILE`",
    )


def register(app: typer.Typer) -> None:
    """Add ``sniff`` and ``interfaces`` to the pushcap command line."""
    app.command()(sniff)
    app.command()(interfaces)


def sniff(
    iface: Annotated[
        str,
        typer.Option(
            "--interface", "-i", help="Interface to capture on; `any` (Linux) captures on all."
        ),
    ] = "any",
    port: Annotated[
        list[int] | None,
        typer.Option(
            "--port",
            "-p",
            help="Registry port (repeatable).",
            min=1,
            max=65535,
            show_default="8200",
        ),
    ] = None,
    common_ports: Annotated[
        bool, typer.Option("--common-ports", help="Also watch ports 443 and 5000.")
    ] = False,
    bpf: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="BPF",
            help="Raw capture filter (pcap-filter syntax) instead of ours.",
        ),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            "-w",
            metavar="FILE",
            help="Also save every packet to FILE (pcap, mode 0600).",
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after S seconds.", metavar="S", min=0.001)
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after N packets.", metavar="N", min=1)
    ] = None,
    until_diagnosis: Annotated[
        bool, typer.Option("--until-diagnosis", help="Stop at the first certain finding.")
    ] = False,
    output_format: Annotated[
        SniffFormat,
        typer.Option("--format", "-f", help="Report format; jsonl streams one event per line."),
    ] = SniffFormat.text,
    no_color: Annotated[bool, typer.Option("--no-color", help="Never colour the output.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No banner or status line on stderr.")
    ] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets", help="Show credentials, tokens and cookies (redacted by default)."
        ),
    ] = False,
) -> None:
    """Capture live and diagnose a push that hangs now (needs root or CAP_NET_RAW)."""
    ports = tuple(port or [DEFAULT_PORT]) + (COMMON_PORTS if common_ports else ())
    try:
        cfg = SniffConfig(
            iface=iface,
            ports=ports,
            bpf=bpf,
            write=str(write) if write is not None else None,
            duration=duration,
            count=count,
            until_diagnosis=until_diagnosis,
            output=output_format,
            no_color=no_color,
            quiet=quiet,
            options=AnalyzerOptions(show_secrets=show_secrets),
        )
        from analyzer.sniff_session import run_sniff  # noqa: PLC0415 - only sniff pays

        code = run_sniff(cfg)
    except AnalyzerError as err:
        fail(err)
    raise typer.Exit(code)


def interfaces() -> None:
    """List the interfaces sniff can capture on, with their addresses."""
    try:
        try:
            from analyzer.sources import live  # noqa: PLC0415 - scapy loads only to capture
        except ImportError as exc:
            raise no_scapy(exc) from exc
        found = live.list_interfaces()
    except AnalyzerError as err:
        fail(err)
    rows = [("any", "up, cooked", "every interface at once")]
    for i in found:
        state = "up" if i.up else "down"
        kind = "loopback" if i.loopback else ("cooked" if i.cooked else "ethernet")
        rows.append((i.name, f"{state}, {kind}", ", ".join(i.addresses) or "no address"))
    width = max(len(r[0]) for r in rows)
    wide = max(len(r[1]) for r in rows)
    for name, what, addrs in rows:
        typer.echo(f"{name:<{width}}  {what:<{wide}}  {addrs}".rstrip())
    raise typer.Exit(EXIT_OK)
