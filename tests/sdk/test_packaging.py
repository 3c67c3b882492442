"""The SDK is its own distribution: one runtime dependency, a light import, a typed package."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib

from gateway.config import REPO_ROOT

SDK = REPO_ROOT / "sdk"


def test_requests_is_the_only_runtime_dependency():
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    assert project["name"] == "shijing"
    assert [d.split(">")[0].split("<")[0].split("=")[0] for d in project["dependencies"]] == ["requests"]
    installed = [r for r in importlib.metadata.requires("shijing") or [] if "extra ==" not in r]
    assert len(installed) == 1 and installed[0].startswith("requests")
    assert (SDK / "src" / "shijing" / "py.typed").exists()


def test_import_shijing_loads_no_models_and_nothing_heavy():
    code = ("import sys, shijing; heavy = [m for m in ('dataclasses', 'uuid', 'yaml', 'flask', 'shijing._generated.models.apps',"
            " 'shijing._generated.resources.apps') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_hand_written_code_stays_out_of_the_generated_tree():
    # everything under _generated is produced by codegen (the --check test compares it file by file);
    # runtime and helpers live beside it
    package = SDK / "src" / "shijing"
    assert sorted(p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__") == [
        "_generated", "_runtime", "lib"]


def test_the_package_type_checks_strictly(tmp_path):
    # generated code included: typed signatures, dataclass models, no Any leaking from methods
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "-p", "shijing", "--cache-dir",
                             str(tmp_path / "mypy")], cwd=SDK / "src", capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
