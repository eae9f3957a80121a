"""The ``--engine`` and ``--tls-keylog`` options, as ``analyze`` and ``audit`` both take them."""

from __future__ import annotations

from typing import Annotated

import typer

from analyzer.engines import Engine

EngineOption = Annotated[
    Engine,
    typer.Option(
        help="What reads captures: pushcap's own decoder, or Wireshark's dissectors "
        "through tshark (slower; decrypts TLS with --tls-keylog, decodes HTTP/2).",
    ),
]
KeylogOption = Annotated[
    str | None,
    typer.Option(
        "--tls-keylog",
        metavar="KEYLOG",
        help="TLS key log (SSLKEYLOGFILE format) to decrypt HTTPS, for every capture read; "
        "needs --engine tshark.",
    ),
]
