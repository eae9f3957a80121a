"""The tshark engine's edge: run Wireshark's ``tshark`` over a capture and stream its answer.

``pushcap analyze --engine tshark CAPTURE [--tls-keylog KEYLOG]`` reads the
capture with Wireshark's dissectors: TLS decrypted with an SSLKEYLOGFILE key
log (``-o tls.keylog_file:``), HTTP/2, and HTTP/1.x recognised by content on
any port (``-o tcp.try_heuristic_first:TRUE``: the HTTP heuristic dissector
runs before port-based guesses). Frame numbers are tshark's, so they match
Wireshark. :class:`~analyzer.engines.observer.TsharkObserver` turns each
packet's fields into the pipeline's observations; detectors and renderers are
the default engine's.

Why tshark is run directly rather than through pyshark: the engine must ask
only for the fields it needs (``-T ek -e FIELD …`` behind a display filter,
see :mod:`analyzer.engines.fields`), and pyshark cannot. Its JSON and EK
readers build a packet from the whole ``frame`` layer (``frame.protocols``), so
output restricted with ``-e`` fails in them; ``-j``/``-J`` keep whole protocol
trees (the TCP payload in hex, analysis subtrees): 190 MB of JSON for a 60,000
frame capture, read in 20 s against 1.4 s for the default engine. Overriding
pyshark's private parser hook to read ``-T ek -e`` lines works, but its
per-packet event-loop turn doubles the time of reading the same lines from the
pipe here. So the one process is started here, its standard output read line
by line as it comes (never all packets at once), its standard error kept in a
temporary file, and its failures turned into :class:`AnalyzerError`.

``capinfos`` (installed with tshark) runs beside it for what the display filter
hides: the number of frames, first and last timestamps, the link type. A
named pipe or process substitution is read by tshark alone (capinfos would
take its bytes).

Child processes: tshark and capinfos are killed when the caller fails
(an exception, such as MemoryError, while reading tshark's output) and, on
Linux, when the process that started them dies (``PR_SET_PDEATHSIG``), so a
``pushcap audit`` worker killed at its deadline never leaves tshark running;
they also stay in the caller's process group, which the audit kills whole.
tshark inherits the caller's limits, ``RLIMIT_AS`` of ``--max-memory``
included: running out of it (a failed allocation, a library that cannot be
mapped, death by a signal under the limit) raises :class:`TsharkMemoryError`
rather than giving a report cut short. tshark's peak RSS, from ``wait4``,
goes to ``on_exit`` when given.

Memory: ours is bounded as in the default engine; tshark itself keeps a little
state per frame and per conversation for the whole file (Wireshark's design),
so its memory grows with the capture (about 1.3 KB per frame measured on
tshark 4.0).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from analyzer.engines.fields import DISPLAY_FILTER, FIELDS, epoch_ns, parse_line
from analyzer.engines.observer import FileFacts, TsharkObserver
from analyzer.errors import AnalyzerError, CaptureOpenError
from analyzer.findings import ReadIssue, Report
from analyzer.pipeline import AnalyzerOptions, SourceInfo

PREFERENCES = (
    "tcp.try_heuristic_first:TRUE",  # HTTP by content, whatever the port
    "http.desegment_body:FALSE",  # messages at the frame that ends their header; bodies never reassembled
    "tcp.reassemble_out_of_order:TRUE",  # a header split across out-of-order segments
    "tcp.calculate_timestamps:TRUE",  # tcp.time_relative, for the display filter
)
INSTALL_HINT = (
    "install Wireshark's command-line tools (Debian/Ubuntu: `sudo apt-get install tshark`; "
    "Fedora: `sudo dnf install wireshark-cli`; macOS: `brew install wireshark`), "
    "or leave out --engine tshark to use pushcap's own decoder"
)
# capinfos' encapsulation names, as pcap link types (the report lists link types by number).
_LINKTYPES = {"ether": 1, "rawip": 101, "rawip4": 228, "rawip6": 229, "linux-sll": 113,
              "linux-sll2": 276, "null": 0, "loop": 108}  # fmt: skip
_NOISE = ("Running as user", "This could be dangerous")
# What tshark (GLib, the dynamic loader) says when it cannot get memory.
_MEMORY_SIGNS = ("failed to allocate", "failed to map segment", "cannot allocate memory",
                 "out of memory")  # fmt: skip
MEMORY_HINT = (
    "Wireshark needs about 300 MB of address space to start and keeps state for every "
    "frame (about 1.3 KB each): give it more memory (audit: raise --max-memory, 0 = no "
    "limit), split the capture (`editcap -c 1000000 FILE part.pcap`), or leave out "
    "--engine tshark if the registry speaks plain HTTP"
)
PR_SET_PDEATHSIG = 1


class TsharkMemoryError(AnalyzerError):
    """tshark ran out of memory (or died under an address-space limit): no report."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(
            f"{name}: tshark ran out of memory reading it ({detail})", hint=MEMORY_HINT
        )
        self.detail = detail


def find_tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise AnalyzerError(
            "--engine tshark needs `tshark`, which is not installed", hint=INSTALL_HINT
        )
    return path


def tshark_command(tshark: str, capture: str, keylog: str | None = None) -> list[str]:
    cmd = [tshark, "-n", "-r", capture, "-Y", DISPLAY_FILTER, "-T", "ek"]
    for pref in PREFERENCES:
        cmd += ["-o", pref]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for name in FIELDS:
        cmd += ["-e", name]
    return cmd


def check_keylog(keylog: str) -> None:
    """Raise AnalyzerError unless ``keylog`` can be read."""
    try:
        with open(keylog, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise AnalyzerError(
            f"{keylog}: cannot read the TLS key log: {exc.strerror}",
            hint="give the file the client wrote through SSLKEYLOGFILE",
        ) from exc


def _check_inputs(capture: str, keylog: str | None) -> None:
    if capture != "-" and (not os.path.exists(capture) or os.path.isdir(capture)):
        why = "is a directory" if os.path.isdir(capture) else "does not exist"
        raise CaptureOpenError(f"{capture}: {why}", hint="give the path of a pcap or pcapng file")
    if keylog is not None:
        check_keylog(keylog)


def _regular(capture: str) -> bool:
    """A regular file, which capinfos may read too (not stdin, a named pipe or a device)."""
    try:
        return capture != "-" and stat.S_ISREG(os.stat(capture).st_mode)
    except OSError:
        return False


def _die_with_us() -> Callable[[], None] | None:
    """For Popen's preexec_fn on Linux: the child is killed when the process that started it dies.

    preexec_fn is unsafe in a process with threads (the child could deadlock
    before exec); the engine's callers (``analyze``, the audit worker) have none.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # noqa: PLC0415 - Linux only

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request was made
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def _capinfos(capture: str) -> subprocess.Popen[str] | None:
    tool = shutil.which("capinfos")
    if tool is None or not _regular(capture):
        return None
    try:
        return subprocess.Popen(
            [tool, "-T", "-r", "-S", "-t", "-E", "-c", "-a", "-e", capture],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_us(),  # noqa: PLW1509 - single-threaded callers
        )
    except OSError:
        return None  # its facts are optional


def _file_facts(proc: subprocess.Popen[str] | None) -> tuple[FileFacts, str | None]:
    """(frames, times, link types; the file type) from capinfos' table row."""
    if proc is None:
        return FileFacts(), None
    out, _ = proc.communicate()
    cells = out.strip().split("\t")
    if len(cells) != 6:  # a file cut short still gets its row (exit 1): what was read
        return FileFacts(), None
    _name, ftype, encap, count, start, end = cells
    try:
        frames = int(count)
        first_ts = epoch_ns(start) if frames else None
        last_ts = epoch_ns(end) if frames else None
    except ValueError:
        return FileFacts(), ftype
    link = _LINKTYPES.get(encap)
    return FileFacts(frames, first_ts, last_ts, (link,) if link is not None else ()), ftype


def _run(
    cmd: list[str], capture: str, observer: TsharkObserver
) -> tuple[int, list[str], bool, int | None]:
    """Run tshark, streaming its lines into ``observer``.

    Returns its exit code, what it said on stderr (minus noise), whether
    Ctrl-C cut it short, and its peak RSS in KiB. Any other exception kills
    tshark before it propagates.
    """
    interrupted = False
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=errors,
                stdin=None if capture == "-" else subprocess.DEVNULL,
                preexec_fn=_die_with_us(),  # noqa: PLW1509 - single-threaded callers
            )
        except OSError as exc:
            raise AnalyzerError(
                f"could not start tshark: {exc.strerror or exc}", hint=INSTALL_HINT
            ) from exc
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                layers = parse_line(line)
                if layers is not None:
                    observer.packet(layers)
        except KeyboardInterrupt:
            interrupted = True
            proc.terminate()
        except BaseException:
            proc.kill()  # a bug or MemoryError here: tshark must not run on without a reader
            raise
        finally:
            proc.stdout.close()
            code, peak_kb = _reap(proc)
        errors.seek(0)
        said = [
            line.strip().removeprefix("tshark: ")
            for line in errors.read().decode("utf-8", "replace").splitlines()
            if line.strip() and not line.startswith(_NOISE)
        ]
    return code, said, interrupted, peak_kb


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, int | None]:
    """Wait for ``proc``: its exit code, and its peak RSS in KiB from wait4's rusage."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # reaped already
        return proc.wait(), None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, int(usage.ru_maxrss)


def _address_space_limited() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft != resource.RLIM_INFINITY


def _check_death(name: str, code: int, said: list[str]) -> None:
    """Raise if tshark ran out of memory or died of a signal: what it printed is cut short."""
    text = " ".join(said)
    sign = next((s for s in _MEMORY_SIGNS if s in text.lower()), None)
    signame = ""
    if code < 0:
        with contextlib.suppress(ValueError):
            signame = signal.Signals(-code).name
        signame = signame or f"signal {-code}"
    if sign is not None:
        line = next(line for line in said if sign in line.lower())
        raise TsharkMemoryError(name, line[line.lower().index(sign) :])
    if code < 0 and (_address_space_limited() or code == -signal.SIGKILL):
        # Under RLIMIT_AS a failed allocation often ends as SIGSEGV or SIGABRT; SIGKILL is
        # what the kernel's OOM killer sends.
        raise TsharkMemoryError(name, f"it died of {signame}")
    if code < 0:
        raise AnalyzerError(
            f"{name}: tshark crashed ({signame}) reading it",
            hint="a Wireshark bug, or the file provokes one: try a newer Wireshark, or leave "
            "out --engine tshark if the registry speaks plain HTTP",
        )


def _compression(capture: str) -> str | None:
    if not _regular(capture):
        return None
    with open(capture, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


def analyze_with_tshark(
    capture: str,
    options: AnalyzerOptions,
    *,
    keylog: str | None = None,
    on_exit: Callable[[int], None] | None = None,
) -> Report:
    """Read ``capture`` (or stdin for ``-``) through tshark; raise AnalyzerError if it cannot.

    ``on_exit`` receives tshark's peak resident memory in KiB once it has ended.
    """
    _check_inputs(capture, keylog)
    tshark = find_tshark()
    name = "<stdin>" if capture == "-" else capture
    observer = TsharkObserver(options, keylog=keylog is not None)
    info = _capinfos(capture)
    try:
        code, said, interrupted, peak_kb = _run(
            tshark_command(tshark, capture, keylog), capture, observer
        )
    except BaseException:
        if info is not None:
            info.kill()
        raise
    finally:
        facts, ftype = _file_facts(info)  # reaps capinfos on every path
    if on_exit is not None and peak_kb is not None:
        on_exit(peak_kb)
    if code != 0 and not interrupted:
        _check_death(name, code, said)
    frames = facts.frames if facts.frames is not None else observer.frames
    if code != 0 and not interrupted and (frames == 0 or not said or "aren't valid" in said[0]):
        outdated = bool(said) and "aren't valid" in said[0]
        raise AnalyzerError(
            f"{name}: tshark could not read it: {' '.join(said) or f'exit status {code}'}",
            hint="pushcap asks for fields of tshark 4.0; upgrade Wireshark"
            if outdated
            else "check the file with `capinfos FILE`; it may not be a capture, or be damaged",
        )
    if frames == 0:
        raise AnalyzerError(
            f"{name}: the capture holds no packets",
            hint="check the capture filter and interface (`tcpdump -i any -w FILE port 8200 or "
            "'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0'`)",
        )
    problems = [ReadIssue(0, None, f"tshark: {msg}") for msg in said] if code != 0 else []
    if interrupted:
        problems.append(ReadIssue(0, None, "interrupted; the report covers what was read"))
    size = Path(capture).stat().st_size if capture != "-" else 0
    source = SourceInfo(
        name=name,
        format=ftype or "unknown",
        compression=_compression(capture),
        bytes_read=size,
        complete=code == 0 and not interrupted,
        problems=tuple(problems),
    )
    return observer.finish(source, facts)
