"""The SDK over a real socket: the gateway on 127.0.0.1 (``live_server``), keep-alive sessions,
and the token race across processes."""

from __future__ import annotations

import multiprocessing
import time

import requests
import shijing
from shijing._runtime.auth import Token

from tests.sdk import race_worker


def test_a_partner_tour_over_a_real_socket(world, live_server):
    merchant = world.merchants[0]
    client = shijing.Client(base_url=live_server.url, client_id=world.partner.id,
                            client_secret=world.partner.secret, scope="merchant.read authorizations.read events.read")

    assert client.platform.health().status == "ok"
    merchants = {a.subject_id for a in client.authorizations.list(status="active", limit=1)}  # pages of one
    assert merchant.id in merchants and len(merchants) == 2
    assert client.merchants.get(merchant.id).name == merchant.name
    events = list(client.events.list(limit=1))
    assert [e.type for e in events] == ["authorization.granted"] * 2
    raw = client.merchants.with_raw_response.get(merchant.id)
    assert raw.status_code == 200 and raw.request_id.startswith("req_") and raw.headers["RateLimit"]
    with client.platform.with_streaming_response.openapi() as response:
        chunks = list(response.iter_bytes(chunk_size=4096))
    assert b"".join(chunks).startswith(b"{") and len(chunks) > 1
    client.close()


def test_keep_alive_reuses_one_connection(world, live_server):
    session = requests.Session()
    client = shijing.Client(base_url=live_server.url, session=session)
    for _ in range(5):
        client.platform.health()
    pools = session.get_adapter(live_server.url).poolmanager.pools
    connections = [pools[key].num_connections for key in pools.keys()]
    assert connections == [1]


def test_token_refresh_happens_exactly_once_across_processes(world, live_server, tmp_path):
    merchant = world.merchants[0]
    store_dir = tmp_path / "tokens"
    store = shijing.FileStore(store_dir)
    # every process finds the same expired token: exactly one of them may refresh it
    probe = shijing.Client(base_url=live_server.url, client_id=world.partner.id, client_secret=world.partner.secret)
    key = shijing.ClientCredentials(world.partner.id, world.partner.secret)
    key.bind(probe)
    store.set(key.store_key(), Token("sjat_expired", time.time() - 10).to_dict())
    issued_before = world.token_count()

    processes, threads = 3, 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=race_worker.run, args=(
        live_server.url, world.partner.id, world.partner.secret, str(store_dir), merchant.id, threads, barrier,
        results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)

    assert [o["errors"] for o in outcomes] == [[]] * processes
    assert sum(o["fetches"] for o in outcomes) == 1
    assert world.token_count() - issued_before == 1
    assert store.get(key.store_key())["access_token"].startswith("sjat_")
    assert store.get(key.store_key())["access_token"] != "sjat_expired"
