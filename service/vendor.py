"""Third-party static files, vendored from pinned npm tarballs.

`python -m service.vendor` (run by setup.sh) downloads each pinned tarball once, checks it
against the integrity hash npm publishes, and unpacks only the files the pages use into
`service/static/vendor/`. Nothing is loaded from a CDN at run time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
REGISTRY = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class VendorPackage:
    name: str
    version: str
    integrity: str  # npm's "dist.integrity" (sha512, base64)
    files: dict[str, str]  # path inside the tarball -> path under VENDOR_DIR

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"


VENDOR_PACKAGES = (
    VendorPackage(
        name="bootstrap",
        version="5.3.8",
        integrity="sha512-HP1SZDqaLDPwsNiqRqi5NcP0SSXciX2s9E+RyqJIIqGo+vJeN5AJVM98CXmW/Wux0nQ5L7jeWUdplCEf0Ee+tg==",
        files={
            "package/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
            "package/dist/css/bootstrap.min.css.map": "bootstrap/bootstrap.min.css.map",
            "package/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
            "package/dist/js/bootstrap.bundle.min.js.map": "bootstrap/bootstrap.bundle.min.js.map",
            "package/LICENSE": "bootstrap/LICENSE",
        },
    ),
    VendorPackage(
        name="bootstrap-icons",
        version="1.13.2",
        integrity="sha512-fAU1Ly3dH7hwRg+CB8EZ0Vl0fF80zgXHeUVJyfUOKzoURr+TbwISbCW5tKUoQLERaWYG2emTCybcPbD96hdD1A==",
        files={
            # The stylesheet finds its fonts at ./fonts/, so they keep that layout.
            "package/font/bootstrap-icons.min.css": "bootstrap-icons/bootstrap-icons.min.css",
            "package/font/fonts/bootstrap-icons.woff2": (
                "bootstrap-icons/fonts/bootstrap-icons.woff2"
            ),
            "package/font/fonts/bootstrap-icons.woff": "bootstrap-icons/fonts/bootstrap-icons.woff",
            "package/LICENSE": "bootstrap-icons/LICENSE",
        },
    ),
)


def is_installed(package: VendorPackage) -> bool:
    marker = VENDOR_DIR / f"{package.name}.lock.json"
    if not marker.exists() or json.loads(marker.read_text()) != package.integrity:
        return False
    return all((VENDOR_DIR / target).is_file() for target in package.files.values())


def install(package: VendorPackage) -> None:
    """Download, verify and unpack one package; raise ValueError when the hash differs."""
    with urllib.request.urlopen(package.tarball_url, timeout=60) as response:  # noqa: S310
        data = response.read()
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ValueError(f"{package.name}@{package.version}: integrity mismatch, refusing it")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, target in package.files.items():
            source = archive.extractfile(member)
            if source is None:
                raise ValueError(f"{package.name}@{package.version}: {member} missing")
            path = VENDOR_DIR / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.read())
    (VENDOR_DIR / f"{package.name}.lock.json").write_text(json.dumps(package.integrity))


def main() -> int:
    for package in VENDOR_PACKAGES:
        if is_installed(package):
            print(f"vendor: {package.name}@{package.version} already installed")
            continue
        print(f"vendor: installing {package.name}@{package.version} from {REGISTRY}")
        try:
            install(package)
        except (OSError, ValueError) as error:
            print(f"vendor: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
