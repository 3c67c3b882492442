"""A worker process for the cross-process token race (imports only the SDK: spawn-friendly)."""

from __future__ import annotations

import threading


def run(base_url: str, client_id: str, client_secret: str, store_dir: str, merchant_id: str, threads: int,
        barrier, results) -> None:
    import shijing

    store = shijing.FileStore(store_dir)
    errors: list[str] = []
    fetches: list[int] = []
    start = threading.Barrier(threads)

    def work() -> None:
        client = shijing.Client(base_url=base_url, client_id=client_id, client_secret=client_secret,
                                token_store=store)
        start.wait()
        try:
            for _ in range(2):
                assert client.merchants.get(merchant_id).id == merchant_id
        except BaseException as error:  # noqa: BLE001
            errors.append(repr(error))
        fetches.append(client.auth.fetches)
        client.close()

    barrier.wait()  # every process ready: the race starts together
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    results.put({"errors": errors, "fetches": sum(fetches)})
