"""Command line: `flask push init-keys`, `flask reminders dispatch`, `flask reminders worker`.

The dispatcher runs outside the web workers on purpose: one pass from cron, or the worker's
loop beside the web server (`make run` starts it). Any number of them may run at once, on one
machine or many: the leases keep them apart. One process is held to one core by the GIL, so
to use N cores, run N workers. The worker also prunes old bookkeeping once a day
(bookkeeping.py; `flask maintenance prune` does the same from cron).
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from reminders import config as reminder_config
from reminders import vapid

push_cli = AppGroup("push", help="Web Push keys.")
reminders_cli = AppGroup("reminders", help="Send the daily reminders.")


def init_app(app: Flask) -> None:
    app.cli.add_command(push_cli)
    app.cli.add_command(reminders_cli)


@push_cli.command("init-keys")
def init_keys() -> None:
    """Create the VAPID key pair once (owner-only); an existing key is never replaced."""
    path = reminder_config.key_path()
    if path.exists():
        click.echo(f"VAPID key already present: {path}")
    else:
        vapid.create_key_file(path)
        click.echo(f"VAPID key created: {path}")
    key = vapid.load_private_key(path)
    click.echo(f"public key: {vapid.application_server_key(key)}")


def parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "use ISO-8601, for example 2026-11-26T07:30:00Z", param_hint="--now"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@reminders_cli.command("dispatch")
@click.option("--now", "now_text", metavar="ISO-8601", help="Run the clock (default: now).")
def dispatch_command(now_text: str | None) -> None:
    """Run one pass: send every reminder that is due, then exit."""
    from reminders.dispatch import dispatch

    report = dispatch(parse_now(now_text))
    click.echo(report.line())


@reminders_cli.command("worker")
@click.option("--interval", type=float, default=None, help="Seconds between passes (30).")
@click.option("--passes", type=int, default=0, help="Stop after this many passes (0: never).")
@click.option(
    "--prune-every",
    type=click.FloatRange(0),
    default=None,
    metavar="HOURS",
    help="Hours between prunes of old bookkeeping, the first at start (24; 0: never).",
)
def worker_command(interval: float | None, passes: int, prune_every: float | None) -> None:
    """Loop: one pass every 30 seconds until SIGTERM or SIGINT (finishes the current pass).
    Once a day it also prunes the bookkeeping no rule reads any more (bookkeeping.py)."""
    from bookkeeping import PRUNE_EVERY_HOURS, PruneTimer
    from reminders.dispatch import dispatch
    from reminders.sender import make_sender

    interval = interval if interval is not None else current_app.config["REMINDER_WORKER_INTERVAL"]
    stop = threading.Event()

    def _stop(signum, _frame):
        click.echo(f"reminders worker: {signal.Signals(signum).name}, stopping after this pass")
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    sender = make_sender()
    pruning = PruneTimer(PRUNE_EVERY_HOURS if prune_every is None else prune_every)
    done = 0
    click.echo(f"reminders worker: a pass every {interval:g} s")
    try:
        while not stop.is_set():
            try:
                report = dispatch(sender=sender)
                if report.claimed:
                    click.echo(report.line())
            except Exception:  # a bad pass (database away...) must not kill the loop
                current_app.logger.exception("reminder pass failed")
            pruned = pruning.run_if_due()
            if pruned is not None:
                click.echo(pruned.line())
            done += 1
            if passes and done >= passes:
                break
            stop.wait(interval)
    finally:
        sender.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("reminders worker: stopped")
