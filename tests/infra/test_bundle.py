"""functions/bundle.py: what a deployable function source holds, and that its name is its hash."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

sys.path.insert(0, str(ROOT / "functions"))
import bundle

# Stand-in bytes for libfdb_c.so: none can be had here, so the version check (which loads it)
# is off in these tests and runs in Cloud Build against the real library.
FAKE_LIB = b"\x7fELF not really libfdb_c"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bundle.Bundle]]:
    out = tmp_path_factory.mktemp("bundles")
    lib = out / "libfdb_c.so"
    lib.write_bytes(FAKE_LIB)
    return out, bundle.build_all(
        out_dir=out / "zips", libfdb_c_path=lib, fdb_version="8.0.0", check_library=False
    )


def test_one_bundle_per_entry_point_and_a_manifest(built: tuple[Path, list]) -> None:
    out, bundles = built
    assert {b.function for b in bundles} == {ep.function for ep in bundle.discover()}
    manifest = json.loads((out / "zips" / "function_sources.tfvars.json").read_text())
    assert manifest == {"function_sources": {b.function: b.object_name for b in bundles}}


def test_bundle_contents(built: tuple[Path, list]) -> None:
    _, bundles = built
    auth = next(b for b in bundles if b.function == "auth")
    with zipfile.ZipFile(auth.path) as zf:
        names = set(zf.namelist())
        assert zf.read("main.py") == (ROOT / "functions" / "auth" / "main.py").read_bytes()
        assert "shared/__init__.py" in names and "shared/store/fdb_backend.py" in names
        assert not any("__pycache__" in n for n in names)
        assert zf.read("fdb/libfdb_c.so") == FAKE_LIB
        assert zf.getinfo("fdb/libfdb_c.so").external_attr >> 16 == 0o100755
        assert {"fdb/__init__.py", "fdb/impl.py", "fdb/tuple.py"} <= names
        requirements = zf.read("requirements.txt").decode()
    assert "foundationdb" not in requirements  # vendored, so the bundled copy is the one imported
    assert "functions-framework==" in requirements and "kubernetes==" in requirements


def test_names_are_content_hashes_and_reproducible(
    built: tuple[Path, list], tmp_path: Path
) -> None:
    _, first = built
    lib = tmp_path / "libfdb_c.so"
    lib.write_bytes(FAKE_LIB)
    again = bundle.build_all(
        out_dir=tmp_path / "zips", libfdb_c_path=lib, fdb_version="8.0.0", check_library=False
    )
    assert [b.object_name for b in again] == [b.object_name for b in first]
    lib.write_bytes(FAKE_LIB + b"other release")
    changed = bundle.build_all(
        out_dir=tmp_path / "changed", libfdb_c_path=lib, fdb_version="8.0.0", check_library=False
    )
    assert not {b.object_name for b in changed} & {b.object_name for b in first}
    for b in first:
        assert b.object_name == f"{b.function}-{b.sha256[:24]}.zip"


def test_an_extracted_bundle_imports_the_vendored_bindings_and_loads(
    built: tuple[Path, list], tmp_path: Path
) -> None:
    _, bundles = built
    auth = next(b for b in bundles if b.function == "auth")
    with zipfile.ZipFile(auth.path) as zf:
        zf.extractall(tmp_path)
    # As the runtime does: functions-framework loads main.py from the source directory, which
    # the buildpack's site-packages (here: without foundationdb) precede on sys.path.
    script = (
        "import sys, functions_framework, importlib.util;"
        "sys.path.append('.');"
        "app = functions_framework.create_app('auth', 'main.py');"
        "spec = importlib.util.find_spec('fdb');"
        "print(spec.origin)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    origin = result.stdout.strip()
    # The probe venv has foundationdb installed; in the runtime it is not, so only assert that
    # the bundle carries a complete importable package next to its library.
    assert origin.endswith("fdb/__init__.py")
    assert (tmp_path / "fdb" / "libfdb_c.so").exists()


def test_a_library_that_is_not_libfdb_c_is_refused(tmp_path: Path) -> None:
    lib = tmp_path / "libfdb_c.so"
    lib.write_bytes(FAKE_LIB)
    with pytest.raises(bundle.BundleError, match="not a loadable libfdb_c"):
        bundle.check_client_library(lib, "8.0.0", 800)
    assert (
        bundle.main(["--libfdb-c", str(lib), "--fdb-version", "8.0.0", "--out", str(tmp_path)]) == 1
    )


def test_requirements_pin_is_enforced() -> None:
    assert bundle.pinned_version("x==1\nfoundationdb==8.0.0\n", "foundationdb") == "8.0.0"
    with pytest.raises(bundle.BundleError, match="not pinned"):
        bundle.pinned_version("foundationdb>=7\n", "foundationdb")
    with pytest.raises(bundle.BundleError, match="differs from the pin"):
        bundle.fdb_package_files("7.3.0")
