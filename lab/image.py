"""The image the lab pushes: an OCI image layout written from seeded bytes, the same on every run.

Each layer is a real tar (one file of SHAKE-256 output, fixed owner, mode and
mtime) compressed with gzip (mtime 0), so skopeo can push it and podman can
unpack it, and every digest is stable. skopeo reads it as
``oci:DIR:TAG``. Random bytes do not compress, so a layer of N bytes is a blob
of about N bytes: the captures stay small and predictable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True, slots=True)
class Image:
    layout: Path
    tag: str
    manifest_digest: str
    layer_digests: tuple[str, ...]

    @property
    def reference(self) -> str:
        """What skopeo and podman call it (`oci:` transport)."""
        return f"oci:{self.layout}:{self.tag}"


def _layer_tar(index: int, size: int, seed: str) -> bytes:
    payload = hashlib.shake_256(f"{seed} layer {index}".encode()).digest(size)
    info = tarfile.TarInfo(f"pushcap-lab/layer-{index}.bin")
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def _put_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def _descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def write_image(
    layout: Path, *, layers: int = 3, layer_bytes: int = 100_000, seed: str = "pushcap-lab",
    tag: str = "1.1.0",
) -> Image:  # fmt: skip
    """Write the OCI layout into layout/ (created) and describe what was written."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    descriptors, diff_ids = [], []
    for i in range(layers):
        tar = _layer_tar(i, layer_bytes, seed)
        blob = gzip.compress(tar, mtime=0)
        diff_ids.append(f"sha256:{hashlib.sha256(tar).hexdigest()}")
        descriptors.append(_descriptor(LAYER_TYPE, _put_blob(layout, blob), len(blob)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2022-06-23T04:12:41Z",
            "config": {"Cmd": ["/pushcap-lab/none"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2022-06-23T04:12:41Z", "created_by": "pushcap lab"}] * layers,
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": _descriptor(CONFIG_TYPE, _put_blob(layout, config), len(config)),
            "layers": descriptors,
        },
        sort_keys=True,
    ).encode()
    manifest_digest = _put_blob(layout, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            _descriptor(
                MANIFEST_TYPE,
                manifest_digest,
                len(manifest),
                annotations={"org.opencontainers.image.ref.name": tag},
            )
        ],
    }
    (layout / "index.json").write_text(json.dumps(index, sort_keys=True))
    return Image(layout, tag, manifest_digest, tuple(d["digest"] for d in descriptors))
