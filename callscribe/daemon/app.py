"""``callscribe run``: the daemon's lifecycle.

Start-up order matters because READY means ready (R-SD-3): the database is opened and
checked, the model loaded, the HTTP listener bound, and only then are sources, workers
and the scheduler started and systemd told READY=1.  On SIGTERM the daemon stops taking
work, lets running jobs finish within the stop timeout and gives back the rest; SIGHUP
reloads the configuration (a bad new file is reported and the old one kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from callscribe import __version__
from callscribe.config.loader import load_settings
from callscribe.config.settings import Settings
from callscribe.config.store import Role
from callscribe.daemon.metrics import Metrics
from callscribe.daemon.runtime import Runtime
from callscribe.daemon.systemd import Notifier, watchdog_loop
from callscribe.errors import CallscribeError
from callscribe.store.opening import open_async_store, store_name
from callscribe.transcription.engine import Engine

log = logging.getLogger(__name__)


def library_versions() -> str:
    """The decoders and the model runtime, for the log: security fixes land there."""
    import ctranslate2  # noqa: PLC0415
    import soundfile  # noqa: PLC0415

    return f"libsndfile {soundfile.__libsndfile_version__}, ctranslate2 {ctranslate2.__version__}"


async def serve(config_path: Path) -> int:
    """Run until stopped; the exit status for the process."""
    settings = load_settings(config_path)
    notifier = Notifier.from_environment()
    log.info("callscribe %s starting with %s (%s)", __version__, config_path, library_versions())
    settings.daemon.state_dir.mkdir(parents=True, exist_ok=True)
    store = await open_async_store(settings)
    try:
        notifier.status("loading the speech model")
        engine = await _engine(settings)
        stop = asyncio.Event()
        reload = asyncio.Event()
        _install_signals(stop, reload)
        metrics = Metrics()  # one for the process: a reload keeps counting in it
        runtime = Runtime(settings, store, engine, metrics)
        # The watchdog runs from the event loop for the whole life of the process, reload
        # included: systemd restarts us if the loop is ever blocked that long.
        # (a lambda, not runtime.status: a reload replaces ``runtime``)
        watchdog = asyncio.create_task(watchdog_loop(notifier, lambda: runtime.status()))  # noqa: PLW0108
        try:
            await runtime.start()
            while True:
                log.info(
                    "ready: %d source(s), %d sink(s), model %s",
                    len(settings.sources),
                    len(settings.sinks),
                    settings.transcription.model,
                )
                notifier.ready(runtime.status())
                await _first(stop, reload)
                if stop.is_set():
                    notifier.stopping()
                    await runtime.stop(settings.daemon.stop_timeout_seconds)
                    return 0
                reload.clear()
                notifier.reloading()
                fresh = await _reloaded(config_path, settings, engine)
                if fresh is None:
                    continue  # the running configuration stays, untouched
                # Webhooks are refused for the moment between the two runtimes; senders
                # retry (and a new listen address needs the old socket closed first).
                await runtime.stop(settings.daemon.stop_timeout_seconds)
                settings, engine = fresh
                runtime = Runtime(settings, store, engine, metrics)
                await runtime.start()
        finally:
            watchdog.cancel()
    finally:
        await store.aclose()


async def _reloaded(
    path: Path, current: Settings, engine: Engine | None
) -> tuple[Settings, Engine | None] | None:
    """The new settings and the engine for them, or None to keep running as before."""
    try:
        fresh = load_settings(path)
    except CallscribeError as exc:
        log.error("configuration not reloaded, keeping the running one: %s", exc)
        return None
    if store_name(fresh) != store_name(current):
        log.error("configuration not reloaded: the database cannot change; restart instead")
        return None
    if Role.TRANSCRIBE not in fresh.node.roles:
        engine = None
    elif engine is None or fresh.transcription != current.transcription:
        log.info("transcription settings or roles changed: loading the model again")
        engine = await _engine(fresh)
    log.info("configuration reloaded from %s", path)
    return fresh, engine


async def _engine(settings: Settings) -> Engine | None:
    """The model, on nodes that transcribe; the others never load it."""
    if Role.TRANSCRIBE not in settings.node.roles:
        log.info("roles %s: no model loaded", ", ".join(sorted(settings.node.roles)))
        return None
    return await asyncio.to_thread(Engine, settings.transcription)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _install_signals(stop: asyncio.Event, reload: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)


def run(config_path: Path) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve(config_path))
    return 130
