"""The contract is good enough for other generators: openapi-python-client (pinned in the test
extra) generates a client from it with no warning, and that client talks to the real gateway."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import REPO_ROOT

SPEC = REPO_ROOT / "openapi" / "openapi.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if shutil.which("openapi-python-client", path=str(BIN)) is None:
        pytest.fail("openapi-python-client is not installed: it is pinned in the test extra (./dev test installs it)")
    out = tmp_path_factory.mktemp("opc") / "opc_shijing_client"
    config = out.parent / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatting pass: the generation itself is what is judged
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(SPEC), "--fail-on-warning",
         "--output-path", str(out), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=180, cwd=out.parent,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "WARNING" not in result.stdout + result.stderr
    sys.path.insert(0, str(out.parent))
    yield out.name
    sys.path.remove(str(out.parent))
    for name in [m for m in sys.modules if m == out.name or m.startswith(out.name + ".")]:
        del sys.modules[name]


def test_openapi_python_client_generates_without_warnings_and_its_client_works(generated, world, live_server):
    package = importlib.import_module(generated)
    health = importlib.import_module(f"{generated}.api.platform.platform_health")
    get_merchant = importlib.import_module(f"{generated}.api.merchants.merchants_get")

    anonymous = package.Client(base_url=live_server.url)
    assert health.sync(client=anonymous).status.value == "ok"

    merchant = world.merchants[0]
    authenticated = package.AuthenticatedClient(base_url=live_server.url, token=world.factory.token(world.partner))
    detailed = get_merchant.sync_detailed(merchant.id, client=authenticated)
    assert detailed.status_code == 200 and detailed.parsed.name == merchant.name
