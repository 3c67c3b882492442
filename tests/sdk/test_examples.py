"""The SDK quickstart a partner copies runs against a real gateway on a loopback port."""

from __future__ import annotations

import subprocess
import sys

from gateway.config import REPO_ROOT
from tests.test_examples import example_env


def test_quickstart_example(app, app_config, live_server):
    # seed here first (cheap password hashing, see conftest); the example's own `shijing demo
    # --json` then finds everything in place and only prints it
    from gateway.demo import seed

    with app.app_context(), app.extensions["shijing.db"].new_session() as session:
        seed(session, app_config["INSTANCE_PATH"], live_server.url)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "quickstart.py")],
        env=example_env(app_config, live_server), capture_output=True, text=True, check=False, timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    token_line = next(line for line in result.stdout.splitlines() if line.startswith("token: expires in"))
    assert set(token_line.split("scopes: ")[1].split()) == {"authorizations.read", "merchant.read", "events.read"}
    assert "authorised by Chongqing Hotpot House" in result.stdout
    assert "authorised by Riverside Homestay" in result.stdout
    assert result.stdout.count("authorization.granted") == 3  # two merchants and the demo creator
    assert "not found: MERCHANT_NOT_FOUND (quote req_" in result.stdout
