"""Read the demo data's ids and credentials the way every example does: from ``shijing demo --json``.

Never hard-code credentials: the demo seeds (idempotently) and prints what it has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin


def demo_data() -> dict:
    command = shutil.which("shijing") or str(Path(sys.executable).with_name("shijing"))
    output = subprocess.run([command, "demo", "--json"], check=True, capture_output=True, text=True,
                            env=os.environ.copy()).stdout
    return json.loads(output)


def signed_in_client(base_url: str, demo: dict, username: str, scope: str):
    """A demo user's client through the platform console's code flow (PKCE), the browser's steps
    (sign-in page, consent page) scripted: how the platform's own apps get a user's token."""
    import re

    import requests
    import shijing

    with shijing.Client(base_url=base_url) as anonymous:
        issuer = anonymous.oauth.server_metadata().issuer  # checked against the redirect's `iss` (RFC 9207)
    console = demo["console_app"]
    auth = shijing.AuthCodePKCE(console["client_id"], redirect_uri=console["redirect_uris"][0], scope=scope,
                                issuer=issuer)
    client = shijing.Client(base_url=base_url, auth=auth)
    browser = requests.Session()
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    page = browser.get(urljoin(base_url, "/login"))
    browser.post(urljoin(base_url, "/login"), allow_redirects=False, data={
        "csrf_token": csrf.search(page.text).group(1), "username": username, "password": demo["password"],
        "next": "/login"})
    request = auth.start()
    authorize_url = urljoin(base_url, request.url[request.url.index("/oauth2/authorize"):])
    consent = browser.get(authorize_url)
    answer = browser.post(authorize_url, allow_redirects=False,
                          data={"csrf_token": csrf.search(consent.text).group(1), "decision": "allow"})
    auth.handle_redirect(answer.headers["Location"])
    return client
