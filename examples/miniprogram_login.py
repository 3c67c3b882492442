"""A mini-program's login, both sides: the platform's app gives a signed-in user a one-time code
for the partner's mini-program, and the partner's backend exchanges it through the SDK for the
user's ids in its app (code2session).

    ./dev serve            # in one terminal
    .venv/bin/python examples/miniprogram_login.py

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data, signed_in_client  # noqa: E402


def main() -> None:
    demo = demo_data()
    base_url = os.environ.get("SHIJING_BASE_URL", demo["issuer"])
    miniprogram_id = demo["miniprogram"]["id"]
    mini_app = demo["miniprogram_app"]
    # the partner's mini-program backend: its own app credentials, nothing of the user's
    backend = shijing.Client(base_url=base_url, client_id=mini_app["client_id"],
                             client_secret=mini_app["client_secret"], scope="miniprogram.manage")

    sessions = {}
    for username in ("alice", "bob"):
        # in the platform's app, when the user opens the mini-program
        with signed_in_client(base_url, demo, username, "platform.client") as platform_app:
            login = platform_app.mini_programs.issue_login_code(miniprogram_id)
        print(f"{username}: login code issued for {login.miniprogram_id}, valid {login.expires_in} s")

        # in the mini-program's backend, the code its front end passed on
        session = backend.mini_programs.exchange_login_code(code=login.code)
        sessions[username] = session
        print(f"{username}: open_id={session.open_id} union_id={session.union_id}")

        try:
            backend.mini_programs.exchange_login_code(code=login.code)
        except shijing.BadRequestError as refused:
            print(f"{username}: the same code again is refused ({refused.code})")

    assert sessions["alice"].open_id != sessions["bob"].open_id
    print(f"mini-program {backend.mini_programs.get(miniprogram_id).name}: "
          f"{len(sessions)} users signed in, each with their own open_id")
    backend.close()


if __name__ == "__main__":
    main()
