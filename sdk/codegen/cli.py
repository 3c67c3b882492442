"""Command line: generate, or ``--check`` that the committed output is what the spec gives."""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
from pathlib import Path

from . import docs, emit, ir
from . import spec as spec_module

SDK_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = SDK_DIR.parent
DEFAULT_SPEC = REPO_DIR / "openapi" / "openapi.yaml"
PACKAGE = "shijing"


def generate(spec_path: Path, out_dir: Path, package: str = PACKAGE) -> dict[Path, str]:
    """Every generated file, relative to ``out_dir`` (the SDK directory)."""
    spec = spec_module.load(spec_path)
    api = ir.build(spec)
    try:
        spec_name = spec_path.resolve().relative_to(REPO_DIR).as_posix()
    except ValueError:
        spec_name = spec_path.name
    files: dict[Path, str] = {}
    for name, text in emit.emit(api, spec_name).items():
        text = text.replace("shijing._generated", f"{package}._generated")
        files[Path("src") / package / "_generated" / name] = text
    files[Path("api.md")] = docs.render(api, spec_name)
    return files


def write(files: dict[Path, str], out_dir: Path, package: str = PACKAGE) -> None:
    generated_root = out_dir / "src" / package / "_generated"
    if generated_root.exists():
        shutil.rmtree(generated_root)  # nothing stale survives: the directory is wholly generated
    for relative, text in sorted(files.items()):
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


def _tree(root: Path, package: str) -> dict[Path, bytes]:
    out: dict[Path, bytes] = {}
    generated_root = root / "src" / package / "_generated"
    if generated_root.exists():
        for path in sorted(generated_root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[path.relative_to(root)] = path.read_bytes()
    api_md = root / "api.md"
    if api_md.exists():
        out[Path("api.md")] = api_md.read_bytes()
    return out


def check(spec_path: Path, out_dir: Path, package: str = PACKAGE) -> list[str]:
    """Regenerate into a temporary directory; return the differences (empty when up to date)."""
    with tempfile.TemporaryDirectory(prefix="codegen-check-") as tmp:
        write(generate(spec_path, out_dir, package), Path(tmp), package)
        fresh = _tree(Path(tmp), package)
    current = _tree(out_dir, package)
    problems = []
    for path in sorted(set(fresh) | set(current)):
        if path not in current:
            problems.append(f"missing: {path}")
        elif path not in fresh:
            problems.append(f"not generated (remove it, or move hand-written code to lib/): {path}")
        elif fresh[path] != current[path]:
            diff = difflib.unified_diff(current[path].decode().splitlines(), fresh[path].decode().splitlines(),
                                        f"committed/{path}", f"generated/{path}", lineterm="", n=1)
            problems.append(f"differs: {path}\n" + "\n".join(list(diff)[:40]))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the OpenAPI document")
    parser.add_argument("--out", type=Path, default=SDK_DIR, help="the SDK directory (holds src/ and api.md)")
    parser.add_argument("--package", default=PACKAGE, help="the import name of the SDK package")
    parser.add_argument("--check", action="store_true", help="fail if regenerating would change anything")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check(args.spec, args.out, args.package)
            if problems:
                print("The generated SDK is out of date with the spec; run `python -m codegen` in sdk/.",
                      file=sys.stderr)
                for problem in problems:
                    print(problem, file=sys.stderr)
                return 1
            print("generated SDK is up to date")
            return 0
        files = generate(args.spec, args.out, args.package)
        write(files, args.out, args.package)
        print(f"wrote {len(files)} files under {args.out}")
        return 0
    except spec_module.SpecError as error:
        print(f"spec error: {error}", file=sys.stderr)
        return 2
