"""Build each Cloud Function's deployable source: one zip per function, named by content hash.

A bundle holds what Cloud Functions' Python buildpack needs at the source root:

- ``main.py``: the function's own ``functions/<name>/main.py``;
- ``shared/``: the shared package (Python files only);
- ``requirements.txt``: the repo's pinned requirements (plus ``functions/<name>/requirements.txt``
  when a function has extra ones), without ``foundationdb``, which is vendored instead:
- ``fdb/``: the pinned ``foundationdb`` bindings' Python files with ``libfdb_c.so`` beside them.
  The bindings load the C library from their own directory first (``fdb/impl.py``), so the
  runtime needs no ``LD_LIBRARY_PATH`` and no system package, and the library is exactly the one
  the pipeline took from the FoundationDB server image of the cluster's version. The buildpack
  puts installed packages ahead of the source directory on ``sys.path``, which is why
  ``foundationdb`` must not also be pip-installed.

Zips are deterministic (sorted entries, fixed timestamps and modes), so the name
``<name>-<sha256>.zip`` changes only when the content does and Terraform redeploys only the
functions that changed. ``function_sources.tfvars.json`` maps each function to its object name.

    python functions/bundle.py --libfdb-c build/libfdb_c.so --fdb-version 8.0.0 --out build/bundles
"""

from __future__ import annotations

import argparse
import ast
import ctypes
import hashlib
import importlib.metadata
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
SHARED_DIR = ROOT / "shared"
REQUIREMENTS = ROOT / "requirements.txt"
FDB_DISTRIBUTION = "foundationdb"
# 1980-01-01, the earliest time a zip can hold: no build time leaks into the hash.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
DECORATORS = {"http": "http", "cloud_event": "cloud_event"}


class BundleError(Exception):
    pass


@dataclass(frozen=True)
class EntryPoint:
    function: str  # the folder under functions/
    target: str  # the decorated Python function
    signature: str  # "http" or "cloud_event"


def discover(functions_dir: Path = FUNCTIONS_DIR) -> list[EntryPoint]:
    """Each ``@functions_framework.http`` / ``.cloud_event`` in ``functions/*/main.py``."""
    found = []
    for main in sorted(functions_dir.glob("*/main.py")):
        tree = ast.parse(main.read_text(), filename=str(main))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "functions_framework"
                    and target.attr in DECORATORS
                ):
                    found.append(EntryPoint(main.parent.name, node.name, target.attr))
    return found


def pinned_version(requirements: str, distribution: str) -> str:
    for line in requirements.splitlines():
        match = re.match(rf"^\s*{re.escape(distribution)}\s*==\s*([^\s;#]+)", line, re.IGNORECASE)
        if match:
            return match.group(1)
    raise BundleError(f"{distribution} is not pinned (==) in requirements.txt")


def function_requirements(base: str, extra: str | None) -> str:
    """The bundle's requirements.txt: the pinned base minus foundationdb (vendored), plus extras."""
    lines = [
        line
        for line in base.splitlines()
        if not re.match(rf"^\s*{FDB_DISTRIBUTION}\b", line, re.IGNORECASE)
    ]
    if extra:
        lines += ["", "# functions/<name>/requirements.txt", *extra.splitlines()]
    return "\n".join(lines).strip() + "\n"


def fdb_package_files(expected_version: str) -> dict[str, bytes]:
    """The installed ``fdb`` bindings' Python files, checked against the pin."""
    try:
        dist = importlib.metadata.distribution(FDB_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BundleError(f"{FDB_DISTRIBUTION}=={expected_version} is not installed") from None
    if dist.version != expected_version:
        raise BundleError(
            f"installed {FDB_DISTRIBUTION} {dist.version} differs from the pin {expected_version}"
        )
    files: dict[str, bytes] = {}
    for entry in dist.files or []:
        parts = Path(str(entry)).parts
        if parts and parts[0] == "fdb" and entry.suffix == ".py":
            files["/".join(parts)] = Path(str(dist.locate_file(entry))).read_bytes()
    if "fdb/__init__.py" not in files or "fdb/impl.py" not in files:
        raise BundleError(f"{FDB_DISTRIBUTION} {dist.version} has no fdb package files")
    return files


def client_library_info(path: Path) -> tuple[str, int]:
    """(version, max API version) reported by a ``libfdb_c`` shared library."""
    try:
        lib = ctypes.CDLL(str(path.resolve()))
    except OSError as exc:
        raise BundleError(f"{path} is not a loadable libfdb_c: {exc}") from None
    lib.fdb_get_client_version.restype = ctypes.c_char_p
    lib.fdb_get_max_api_version.restype = ctypes.c_int
    # "8.0.0,<source hash>,<protocol>": the release comes first.
    version = lib.fdb_get_client_version().decode().split(",")[0]
    return version, int(lib.fdb_get_max_api_version())


def check_client_library(path: Path, fdb_version: str, bindings_api_version: int) -> None:
    """The library must be the cluster's release and speak the bindings' API version."""
    version, max_api = client_library_info(path)
    if version != fdb_version:
        raise BundleError(f"{path} is libfdb_c {version}, the cluster runs {fdb_version}")
    if max_api < bindings_api_version:
        raise BundleError(
            f"libfdb_c {version} speaks API {max_api}; the bindings need {bindings_api_version}"
        )


def bindings_api_version(fdb_files: dict[str, bytes]) -> int:
    source = fdb_files.get("fdb/apiversion.py", b"").decode()
    match = re.search(r"LATEST_API_VERSION\s*=\s*(\d+)", source)
    if not match:
        raise BundleError("cannot read LATEST_API_VERSION from the fdb bindings")
    return int(match.group(1))


def _shared_files(shared_dir: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(shared_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        files["shared/" + path.relative_to(shared_dir).as_posix()] = path.read_bytes()
    return files


def deterministic_zip(files: dict[str, bytes], executable: Iterable[str] = ()) -> bytes:
    executable = set(executable)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode below is honoured
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            zf.writestr(info, files[name])
    return buffer.getvalue()


@dataclass(frozen=True)
class Bundle:
    function: str
    object_name: str
    sha256: str
    path: Path


def build_bundle(
    function: str,
    *,
    out_dir: Path,
    libfdb_c: bytes,
    fdb_files: dict[str, bytes],
    requirements: str,
    functions_dir: Path = FUNCTIONS_DIR,
    shared_dir: Path = SHARED_DIR,
) -> Bundle:
    folder = functions_dir / function
    extra = folder / "requirements.txt"
    files = {
        "main.py": (folder / "main.py").read_bytes(),
        "requirements.txt": function_requirements(
            requirements, extra.read_text() if extra.exists() else None
        ).encode(),
        "fdb/libfdb_c.so": libfdb_c,
        **fdb_files,
        **_shared_files(shared_dir),
    }
    data = deterministic_zip(files, executable={"fdb/libfdb_c.so"})
    digest = hashlib.sha256(data).hexdigest()
    object_name = f"{function}-{digest[:24]}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / object_name
    path.write_bytes(data)
    return Bundle(function, object_name, digest, path)


def build_all(
    *,
    out_dir: Path,
    libfdb_c_path: Path,
    fdb_version: str,
    check_library: bool = True,
    functions_dir: Path = FUNCTIONS_DIR,
    shared_dir: Path = SHARED_DIR,
    requirements_path: Path = REQUIREMENTS,
) -> list[Bundle]:
    requirements = requirements_path.read_text()
    fdb_files = fdb_package_files(pinned_version(requirements, FDB_DISTRIBUTION))
    if check_library:
        check_client_library(libfdb_c_path, fdb_version, bindings_api_version(fdb_files))
    libfdb_c = libfdb_c_path.read_bytes()
    functions = sorted({ep.function for ep in discover(functions_dir)})
    if not functions:
        raise BundleError(f"no entry points under {functions_dir}")
    bundles = [
        build_bundle(
            name,
            out_dir=out_dir,
            libfdb_c=libfdb_c,
            fdb_files=fdb_files,
            requirements=requirements,
            functions_dir=functions_dir,
            shared_dir=shared_dir,
        )
        for name in functions
    ]
    manifest = {"function_sources": {b.function: b.object_name for b in bundles}}
    (out_dir / "function_sources.tfvars.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return bundles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bundles")
    parser.add_argument(
        "--libfdb-c", type=Path, required=True, help="libfdb_c.so of the cluster's release"
    )
    parser.add_argument("--fdb-version", required=True, help="the cluster's FoundationDB release")
    parser.add_argument(
        "--skip-library-check",
        action="store_true",
        help="do not load the library to check its version (only where it cannot load)",
    )
    args = parser.parse_args(argv)
    try:
        bundles = build_all(
            out_dir=args.out,
            libfdb_c_path=args.libfdb_c,
            fdb_version=args.fdb_version,
            check_library=not args.skip_library_check,
        )
    except (BundleError, OSError) as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    for bundle in bundles:
        size = os.path.getsize(bundle.path)
        print(f"{bundle.function}: {bundle.object_name} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
