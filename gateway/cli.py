"""``shijing``: serve, migrate, seed demo data, create users and apps, run the worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager

import click

from gateway import create_app


def _app():
    return create_app()


@contextmanager
def _refusals():
    """A rule the services enforce (a taken username, an invalid redirect URI) is a one-line
    error and exit status 1, not a traceback."""
    from gateway.errors import Problem

    try:
        yield
    except Problem as error:
        detail = error.detail
        if error.errors:
            detail += " " + json.dumps(error.errors, ensure_ascii=False)
        raise click.ClickException(detail) from None


@click.group()
def main() -> None:
    """Shijing (市井) open-platform gateway."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (SQLite by default, SHIJING_DATABASE_URL otherwise)."""
    from gateway.migrate import upgrade

    app = _app()
    upgrade(app.config["SHIJING"]["DATABASE_URL"], revision)
    click.echo(f"database at {revision}: {app.extensions['shijing.db'].engine.url.render_as_string()}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output for scripts.")
def demo(as_json: bool) -> None:
    """Seed the demo data (idempotent) and print its ids and credentials."""
    from gateway.demo import seed
    from gateway.migrate import upgrade

    app = _app()
    config = app.config["SHIJING"]
    upgrade(config["DATABASE_URL"])
    with app.app_context(), app.extensions["shijing.db"].new_session() as session:
        data = seed(session, config["INSTANCE_PATH"], config["ISSUER"])
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    partner = data["partner_app"]
    click.echo("Shijing demo data (password for every demo user: %s)" % data["password"])
    click.echo(f"  issuer            {data['issuer']}")
    click.echo(f"  partner app       client_id={partner['client_id']}")
    click.echo(f"                    client_secret={partner['client_secret']}")
    mini = data["miniprogram_app"]
    click.echo(f"  mini-program app  client_id={mini['client_id']}  (mini-program {data['miniprogram']['id']})")
    click.echo(f"                    client_secret={mini['client_secret']}")
    for merchant in data["merchants"]:
        click.echo(f"  merchant          {merchant['id']}  {merchant['name']} (owner: {merchant['owner']})")
    for account in data["service_accounts"]:
        click.echo(f"  service account   {account['id']}  {account['name']} (followers: {', '.join(account['followers'])})")
    click.echo(f"  creator           {data['creator']['id']}  (user: creator)")
    click.echo("  users             " + ", ".join(data["users"]))
    click.echo(f"  try:  curl -s -u {partner['client_id']}:{partner['client_secret']} "
               f"-d grant_type=client_credentials {data['token_url']}")


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name")
@click.option("--merchant", "merchant_name", help="Also create a merchant with this name, owned by the user.")
@click.option("--creator", "creator_name", help="Also create a creator profile with this name.")
@click.option("--operator", is_flag=True)
@click.option("--developer", is_flag=True)
def create_user(username, password, display_name, merchant_name, creator_name, operator, developer) -> None:
    """Create a user (and optionally their merchant or creator profile)."""
    from gateway.accounts import services

    app = _app()
    with app.app_context(), app.extensions["shijing.db"].new_session() as session, _refusals():
        user = services.create_user(session, username=username, password=password, display_name=display_name,
                                    is_operator=operator, is_developer=developer)
        out = {"user_id": user.id, "username": user.username}
        if merchant_name:
            out["merchant_id"] = services.create_merchant(session, user, merchant_name).id
        if creator_name:
            out["creator_id"] = services.create_creator(session, user, creator_name).id
        session.commit()
    click.echo(json.dumps(out, indent=2))


@main.command("create-app")
@click.option("--developer", "developer_username", required=True, help="Username of the owning developer.")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["web_app", "service_provider", "mini_program"]), required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--scope", "scopes", multiple=True)
@click.option("--public", is_flag=True, help="A public client (PKCE only, no secret).")
def create_app_command(developer_username, name, kind, redirect_uris, scopes, public) -> None:
    """Register an app; prints its client secret once."""
    from sqlalchemy import select

    from gateway.accounts.models import User
    from gateway.apps import services

    app = _app()
    with app.app_context(), app.extensions["shijing.db"].new_session() as session, _refusals():
        developer = session.scalar(select(User).where(User.username == developer_username))
        if developer is None:
            raise click.ClickException(f"no user {developer_username!r}")
        created, secret = services.create_app(
            session, developer_user_id=developer.id, name=name, kind=kind, redirect_uris=list(redirect_uris),
            scopes=list(scopes), client_type="public" if public else "confidential",
        )
        session.commit()
    click.echo(json.dumps({"client_id": created.id, "client_secret": secret, "scopes": created.scopes}, indent=2))


@main.command()
@click.option("--workers", default=2, show_default=True)
def worker(workers: int) -> None:
    """Run background jobs (webhook deliveries, exports, housekeeping)."""
    from gateway.serving import serving_app
    from gateway.webhooks.delivery import sweep

    app = serving_app()
    with app.app_context():
        # deliveries a crashed worker left claimed (or whose queue message was lost) go out now,
        # not at the next periodic sweep
        sweep()
    app.extensions["shijing.jobs"].consumer(workers=workers).run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--dev", is_flag=True, help="Flask's development server with reload-free threads.")
@click.option("--workers", default=2, show_default=True, help="gunicorn sync workers (one per core).")
@click.option("--demo", "with_demo", is_flag=True, help="Migrate and seed demo data first.")
def serve(host: str, port: int, dev: bool, workers: int, with_demo: bool) -> None:
    """Serve the gateway (gunicorn; --dev for the development server)."""
    os.environ.setdefault("SHIJING_ISSUER", f"http://{host}:{port}")
    metrics_dir = None
    if not dev and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each gunicorn worker has its own metric values; without a shared folder /metrics would
        # report only the worker that happened to answer. prometheus_client reads the variable
        # when it is first imported, so it is set before the app (and the client) is loaded.
        metrics_dir = tempfile.mkdtemp(prefix="shijing-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from gateway.migrate import upgrade

    app = _app()
    config = app.config["SHIJING"]
    upgrade(config["DATABASE_URL"])
    if with_demo:
        from click.testing import CliRunner

        click.echo(CliRunner().invoke(demo).output)
    embedded_jobs = not config["REDIS_URL"]
    if dev:
        if embedded_jobs:
            # Consumer.run() would set signal handlers, which fails outside the main thread
            app.extensions["shijing.jobs"].start_consumer_thread(workers=1)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    helper = None
    if embedded_jobs:
        # the embedded default has no queue service: a local worker consumes the SQLite queue
        helper = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--workers", "1"])
    try:
        _gunicorn(host, port, workers)
    finally:
        if helper is not None:
            helper.send_signal(signal.SIGTERM)
            helper.wait(timeout=10)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _forget_worker_metrics(server, worker) -> None:
    # a dead worker's gauges must not linger in the aggregate (prometheus_client multiprocess docs)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _gunicorn(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Gateway(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("accesslog", None)  # the app writes its own structured access log
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                self.cfg.set("child_exit", _forget_worker_metrics)

        def load(self):
            from gateway.serving import serving_app

            return serving_app()

    Gateway().run()


if __name__ == "__main__":
    main()
