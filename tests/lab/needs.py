"""What the tests that run the real lab need, and what they must not leave behind.

Shared by tests/lab/test_lab_e2e.py and tests/lab/test_sniff_lab.py: the same
skip reason (no root, no network namespaces, a Debian package missing) and the
same check that the lab's namespaces are gone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lab.components import missing_commands
from lab.netns import PREFIX, list_netns, unavailable

NEEDED = ("docker-registry", "skopeo", "tcpdump", "nft", "openssl")


def skip_reason(commands: Sequence[str] = NEEDED) -> str | None:
    """Why the lab cannot run here with these commands (a skip reason), or None."""
    reason = unavailable()
    if reason is not None:
        return reason
    missing = missing_commands(commands)
    if missing:
        return f"not installed: {', '.join(missing)} (`make system-deps` installs them as root)"
    return None


def ours() -> set[str]:
    """This test process's lab namespaces (other runs may come and go meanwhile)."""
    return {n for n in list_netns() if n.startswith(f"{PREFIX}-{os.getpid()}-")}
