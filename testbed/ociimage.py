#!/usr/bin/env python3
"""Write a one-layer OCI image (FROM scratch) holding one static binary, as an OCI layout.

The node's images (pause, the test server) are single static Go binaries: no image builder is
needed, only the OCI layout format. The result is reproducible (fixed mtimes, sorted JSON), so
the same binary always gives the same digest.

Usage: ociimage.py BINARY OUT_DIR NAME [--tar OUT.tar] [--env K=V ...] [-- ARG ...]
  OUT_DIR  an OCI image layout directory (`crane push OUT_DIR REF` pushes it)
  NAME     the image reference recorded in index.json (`ctr images import` names it so)
  --tar    also write the layout as a tar file (what `ctr images import` reads)
Standard library only: it runs under the system python3 from testbed/node.sh.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def _blob(out: Path, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(binary: Path, name: str) -> tuple[bytes, str]:
    """The gzipped layer and the diff ID (digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = binary.stat().st_size
        info.mode = 0o755
        info.mtime = 0
        with binary.open("rb") as fh:
            tar.addfile(info, fh)
        # /tmp for programs that expect it (the kubelet mounts nothing there).
        tmp = tarfile.TarInfo("tmp")
        tmp.type = tarfile.DIRTYPE
        tmp.mode = 0o1777
        tar.addfile(tmp)
    data = raw.getvalue()
    gz = gzip.compress(data, mtime=0)
    return gz, "sha256:" + hashlib.sha256(data).hexdigest()


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write(binary: Path, out: Path, ref: str, env: list[str], args: list[str]) -> str:
    """Write the layout; returns the manifest digest (what a registry and the kubelet report)."""
    name = binary.name
    layer, diff_id = _layer(binary, name)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": [f"/{name}"],
            "Cmd": args,
            "Env": ["PATH=/", *env],
            "User": "65532:65532",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"testbed/ociimage.py {name}"}],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _blob(out, _dumps(config), "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(out, layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
    }
    desc = _blob(out, _dumps(manifest), "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {
        "io.containerd.image.name": ref,
        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
    }
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_bytes(_dumps({"schemaVersion": 2, "manifests": [desc]}))
    return str(desc["digest"])


def _tar(layout: Path, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for item in sorted(layout.rglob("*")):
            tar.add(item, arcname=str(item.relative_to(layout)), recursive=False)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("ref")
    parser.add_argument("--tar", type=Path)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("args", nargs="*")
    opts = parser.parse_args()
    if opts.out.exists():
        # A layout holds one image: start clean so no stale blob or index survives.
        for item in sorted(opts.out.rglob("*"), reverse=True):
            item.rmdir() if item.is_dir() else item.unlink()
    opts.out.mkdir(parents=True, exist_ok=True)
    digest = write(opts.binary, opts.out, opts.ref, opts.env, opts.args)
    if opts.tar:
        _tar(opts.out, opts.tar)
    print(digest)


if __name__ == "__main__":
    main()
