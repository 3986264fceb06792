"""One dCache source followed: channel, subscriptions, stream, sink, checkpoint.

  - opens the SSE stream first and only then subscribes: dCache replays missed events only
    to a client that sends `Last-Event-ID`, so events between subscribing and connecting
    would otherwise be lost;
  - with `recursive`, watches sub-directories too: existing ones are listed, new ones are
    watched when `IN_CREATE`/`IN_MOVED_TO` with `IN_ISDIR` arrives (dCache's inotify
    watches one directory, like Linux inotify);
  - passes on complete files only: `IN_CLOSE_WRITE` and `IN_MOVED_TO` (no `IN_ISDIR`);
  - reconnects with `Last-Event-ID: <checkpoint id>` after a dropped connection or a
    restart (dCache keeps the last 16384 events of a channel in a ring buffer; an id no
    longer held makes dCache send `SYSTEM` `EVENT_LOSS`);
  - re-creates the channel and its subscriptions when dCache answers 404;
  - reports possible gaps LOUDLY (log line starting `GAP:` and an entry under `gaps` in
    the checkpoint): a re-created channel, `EVENT_LOSS`, inotify `IN_Q_OVERFLOW`, a
    restart before any event was acknowledged.

The event (one spool file, or one POST body to OSCAR's /job/<service>), a JSON object:
  {"source": "edge-dcache",            the site's event-source name
   "event": "IN_CLOSE_WRITE",          or "IN_MOVED_TO"
   "path": "/data/in/sub/file.csv",    full dCache path of the complete file
   "name": "file.csv", "directory": "/data/in/sub",
   "event_id": "<channel id>:<sse id>",  unique per event (SSE ids restart per channel)
   "sse_id": "42", "channel": "<channel URL>",
   "endpoint": "<frontend REST base>",
   "url": "<webdav>/data/in/sub/file.csv"   only when "webdav" is configured
   "cookie": "..."                      only for IN_MOVED_TO
   "received": "2026-12-01T22:00:00Z"}
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urljoin

from .channel import Dcache, Stream
from .checkpoint import MAX_GAPS, Checkpoint, Tracker
from .config import Config
from .errors import LOG, ChannelGone, ConfigError, ListenerError, Refused, SinkUnavailable
from .secretfile import redact_url
from .sinks import OscarSink, SpoolSink, make_sink, safe_name
from .sse import SseMessage, parse_sse

# Connection attempts failing in a row before the listener stops (exit 75, EX_TEMPFAIL):
# with the 30 s back-off cap, about ten minutes. The relay's systemd unit restarts it.
MAX_CONNECT_FAILURES = 24

COMPLETE = ("IN_CLOSE_WRITE", "IN_MOVED_TO")


class Listener:
    """One dCache source: channel, subscriptions, stream, sink, checkpoint."""

    def __init__(self, cfg: Config, sink: SpoolSink | OscarSink | None = None) -> None:
        self.cfg = cfg
        self.dcache = Dcache(cfg)
        self.sink = sink or make_sink(cfg.sink)
        self.stop_event = threading.Event()
        self.fatal: ListenerError | None = None
        self.state_lock = threading.RLock()
        loaded = Checkpoint.load(cfg.checkpoint)
        self.state = loaded or Checkpoint(endpoint=cfg.endpoint)
        if loaded is not None and loaded.endpoint and loaded.endpoint != cfg.endpoint:
            LOG.warning(
                "checkpoint was for %s, now %s: starting with a new channel",
                loaded.endpoint,
                cfg.endpoint,
            )
            self.state = Checkpoint(
                endpoint=cfg.endpoint, gaps=loaded.gaps, delivered=loaded.delivered
            )
        self.fresh_start = loaded is None
        self.tracker = Tracker(self.state.last_event_id)
        self.tracker.delivered = self.state.delivered
        self._stream: Stream | None = None
        self._dirty = threading.Event()
        self._slots = threading.BoundedSemaphore(max(1, self.sink.concurrency) * 8)
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, self.sink.concurrency), thread_name_prefix="sink"
        )
        self.flags = ["IN_CLOSE_WRITE", "IN_MOVED_TO"] + (["IN_CREATE"] if cfg.recursive else [])
        self.channel_key = ""
        self.subs: dict[str, str] = {}  # subscription URL -> path
        self.awaiting_mark = False

    # --- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        self.stop_event.set()
        stream = self._stream
        if stream is not None:
            stream.interrupt()

    def _fail(self, exc: ListenerError) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.stop()

    def gap(self, reason: str) -> None:
        """Report a possible loss of events loudly: log and checkpoint."""
        entry = {
            "time": _now(),
            "reason": reason,
            "channel": self.state.channel,
            "last_event_id": self.tracker.acked,
        }
        LOG.error(
            "GAP: %s (channel %s, last acknowledged event %s): uploads in that window may "
            "not have been passed on; check the watched paths by hand",
            reason,
            self.state.channel,
            self.tracker.acked,
        )
        with self.state_lock:
            self.state.gaps.append(entry)
            self.state.gaps = self.state.gaps[-MAX_GAPS:]
        self.save()

    def save(self) -> None:
        with self.state_lock:
            self.state.last_event_id = self.tracker.acked
            self.state.delivered = self.tracker.delivered
            self.state.save(self.cfg.checkpoint)

    def _saver(self) -> None:
        last: tuple[str | None, int] = (None, -1)
        while not self.stop_event.wait(self.cfg.checkpoint_interval):
            now = (self.tracker.acked, self.tracker.delivered)
            if now != last or self._dirty.is_set():
                self._dirty.clear()
                try:
                    self.save()
                    last = now
                except OSError as e:
                    LOG.error("cannot write checkpoint %s: %s", self.cfg.checkpoint, e)

    def run(self) -> int:
        """Listen until stop() or a fatal error; returns the exit code."""
        saver = threading.Thread(target=self._saver, name="checkpoint", daemon=True)
        saver.start()
        try:
            self._loop()
        except ListenerError as e:
            self._fail(e)
        finally:
            self.stop_event.set()
            if isinstance(self.sink, OscarSink) and self.fatal is not None:
                self.sink.close()
            self.pool.shutdown(wait=True)
            self.sink.close()
            saver.join()
            try:
                self.save()
            except OSError as e:
                LOG.error("cannot write checkpoint %s: %s", self.cfg.checkpoint, e)
        if self.fatal is not None:
            LOG.error("%s", self.fatal)
            return self.fatal.exit_code
        LOG.info("stopped; checkpoint at event %s", self.tracker.acked)
        return 0

    # --- channel ---------------------------------------------------------------------

    def _adopt_or_create(self) -> bool:
        """Ensure state.channel names a channel; True when its subscriptions are to be made."""
        st = self.state
        if st.channel:
            return False
        found = self.dcache.find_channels(self.cfg.client_id)
        if found:
            st.channel = found[0]
            for extra in found[1:]:
                LOG.warning(
                    "deleting duplicate channel %s of client id %s", extra, self.cfg.client_id
                )
                self.dcache.delete_channel(extra)
            try:
                st.watches = {p: u for u, p in self.dcache.subscriptions(st.channel).items()}
            except ChannelGone:
                st.channel = None
                return self._adopt_or_create()
            LOG.info(
                "found channel %s (client id %s) with %d watch(es)",
                st.channel,
                self.cfg.client_id,
                len(st.watches),
            )
            self.gap(
                "no checkpoint, an existing channel was adopted: events it held before this start are not replayed"
            )
            return True
        st.channel = self.dcache.create_channel(self.cfg.client_id)
        st.watches = {}
        LOG.info("created channel %s (client id %s)", st.channel, self.cfg.client_id)
        return True

    def _new_channel(self, reason: str) -> None:
        self.gap(reason)
        with self.state_lock:
            self.state.channel = None
            self.state.watches = {}
        self.tracker.reset()

    def _subscribe_all(self) -> None:
        """Watch every configured path (and sub-directories when recursive) not yet watched."""
        st = self.state
        assert st.channel is not None
        todo = list(self.cfg.paths)
        while todo:
            path = todo.pop(0)
            if path not in st.watches:
                url = self.dcache.subscribe(st.channel, path, self.flags)
                with self.state_lock:
                    st.watches[path] = url
                LOG.info("watching %s", path)
            if self.cfg.recursive:
                todo.extend(self.dcache.subdirectories(path))
        for path in [p for p in st.watches if not self._wanted(p)]:
            LOG.info("no longer watching %s", path)
            self.dcache.http.request("DELETE", st.watches[path])
            with self.state_lock:
                del st.watches[path]
        self.subs = {u: p for p, u in st.watches.items()}
        self._dirty.set()
        self.save()

    def _wanted(self, path: str) -> bool:
        for root in self.cfg.paths:
            if path == root or (self.cfg.recursive and path.startswith(root.rstrip("/") + "/")):
                return True
        return False

    # --- main loop -------------------------------------------------------------------

    def _loop(self) -> None:
        backoff = 0.5
        failures = 0  # connection attempts failed in a row (bounded: MAX_CONNECT_FAILURES)
        first = True
        if not self.fresh_start and self.state.channel and self.state.last_event_id is None:
            self.gap(
                "restarted before any event was acknowledged: events sent while stopped are not replayed"
            )
        while not self.stop_event.is_set() and self.fatal is None:
            try:
                subscribe = self._adopt_or_create()
                assert self.state.channel is not None
                if subscribe and self.cfg.channel_timeout:
                    self.dcache.set_timeout(self.state.channel, self.cfg.channel_timeout)
                self.channel_key = safe_name(self.state.channel.rstrip("/").rsplit("/", 1)[-1])
                resume = self.tracker.resume_id()
                stream = self.dcache.open_stream(
                    self.state.channel, resume, self.cfg.stream_idle_timeout
                )
                self._stream = stream
                LOG.info(
                    "connected to %s%s",
                    self.state.channel,
                    f" (resuming after event {resume})" if resume is not None else "",
                )
                try:
                    # Opened before subscribing: nothing emitted after this is missed.
                    if subscribe and self.tracker.resume_id() is None:
                        # dCache replays only after an id it still holds: a first event
                        # (one metronome tick) gives a resume point before any upload.
                        self.awaiting_mark = self.dcache.mark(self.state.channel)
                        if not self.awaiting_mark:
                            LOG.warning(
                                "dCache offers no metronome events: until the first "
                                "event is acknowledged a restart may miss events"
                            )
                    elif self.awaiting_mark:
                        self.awaiting_mark = False  # the tick was lost with the connection
                        first = True
                    if (subscribe or first) and not self.awaiting_mark:
                        self._subscribe_all()
                    first = False
                    backoff = 0.5
                    failures = 0
                    self._read(stream.resp)
                finally:
                    self._stream = None
                    stream.close()
                if not self.stop_event.is_set():
                    LOG.warning("event stream of %s ended; reconnecting", self.state.channel)
            except ChannelGone as e:
                self._new_channel(f"channel {e} is gone (expired or deleted): re-creating it")
                continue
            except (OSError, http.client.HTTPException) as e:
                if self.stop_event.is_set():
                    break
                failures += 1
                if failures >= MAX_CONNECT_FAILURES:
                    self.fatal = SinkUnavailable(
                        f"dCache {redact_url(self.cfg.endpoint)}: {failures} attempts in a row "
                        f"failed, the last: {e}; stopping (a service manager restarts it later)"
                    )
                    break
                LOG.warning(
                    "dCache %s: %s; retrying in %.1fs (attempt %d of %d)",
                    redact_url(self.cfg.endpoint),
                    e,
                    backoff,
                    failures,
                    MAX_CONNECT_FAILURES,
                )
            if self.stop_event.wait(backoff * (0.75 + random.random() / 2)):
                break
            backoff = min(backoff * 2, 30.0)

    def _read(self, resp: http.client.HTTPResponse) -> None:
        def lines() -> Iterator[bytes]:
            while not self.stop_event.is_set():
                try:
                    line = resp.fp.readline(65537) if resp.fp else b""
                except TimeoutError:
                    LOG.info("no event for %.0fs; reconnecting", self.cfg.stream_idle_timeout)
                    return
                if not line:
                    return
                yield line

        for msg in parse_sse(lines()):
            if self.fatal is not None:
                return
            if msg.event == "SYSTEM":
                self._system(msg)
            elif msg.event == "inotify":
                self._inotify(msg)
            elif msg.event == "metronome" and self.awaiting_mark and msg.id is not None:
                self.tracker.add(msg.id, True)
                self.awaiting_mark = False
                self.save()
                self._subscribe_all()
            elif msg.id is not None and not self.tracker.seen(msg.id):
                self.tracker.add(msg.id, True)

    def _system(self, msg: SseMessage) -> None:
        try:
            kind = json.loads(msg.data).get("type")
        except (ValueError, AttributeError):
            kind = msg.data
        if kind == "EVENT_LOSS":
            self.gap(
                "dCache reported EVENT_LOSS: it no longer held the events after the resume point"
            )
        elif kind == "COMPETING_CLIENT":
            self._fail(
                Refused(
                    f"another client connected to channel {self.state.channel}; "
                    "two listeners must not share one checkpoint/client id"
                )
            )
        elif kind == "SUBSCRIPTION_CLOSED":
            sub = json.loads(msg.data).get("subscription")
            path = self.subs.pop(self._abs(sub), None) if sub else None
            if path is not None:
                with self.state_lock:
                    self.state.watches.pop(path, None)
                self._dirty.set()
                if path in self.cfg.paths:
                    LOG.error(
                        "dCache closed the watch on %s (deleted or moved?); re-subscribing", path
                    )
                    self._subscribe_all()
        else:
            LOG.debug("SYSTEM %s", msg.data)

    def _inotify(self, msg: SseMessage) -> None:
        eid = msg.id
        if eid is not None and self.tracker.seen(eid):
            return  # replayed after a reconnect, already in flight
        try:
            data = json.loads(msg.data)
            ev = data["event"]
            sub = data["subscription"]
            mask = list(ev.get("mask") or [])
        except (ValueError, KeyError, TypeError, AttributeError):
            LOG.error("unreadable inotify event %s: %r", eid, msg.data[:300])
            if eid is not None:
                self.tracker.add(eid, True)
            return
        directory = self.subs.get(self._abs(sub))
        name = ev.get("name")
        isdir = "IN_ISDIR" in mask
        if "IN_Q_OVERFLOW" in mask:
            self.gap(f"dCache reported IN_Q_OVERFLOW on the watch of {directory}")
        if (
            directory is not None
            and isdir
            and name
            and self.cfg.recursive
            and ("IN_CREATE" in mask or "IN_MOVED_TO" in mask)
        ):
            self._watch_new_dir(f"{directory}/{name}")
        complete = next((f for f in COMPLETE if f in mask), None)
        if directory is None or isdir or not name or complete is None:
            if directory is None and name:
                LOG.warning("event %s for unknown subscription %s ignored", eid, sub)
            if eid is not None:
                self.tracker.add(eid, True)
            return
        path = f"{directory}/{name}"
        event: dict[str, Any] = {
            "source": self.cfg.source,
            "event": complete,
            "path": path,
            "name": name,
            "directory": directory,
            "event_id": f"{self.channel_key}:{eid}",
            "sse_id": eid,
            "channel": self.state.channel,
            "endpoint": self.cfg.endpoint,
            "received": _now(),
        }
        if self.cfg.webdav:
            event["url"] = self.cfg.webdav.rstrip("/") + quote(path)
        if ev.get("cookie"):
            event["cookie"] = ev["cookie"]
        if eid is None:
            LOG.warning("event without id for %s: delivered, but cannot be checkpointed", path)
        else:
            self.tracker.add(eid, False)
        self._submit(event, eid)

    def _abs(self, url: str) -> str:
        return urljoin(self.cfg.endpoint + "/", url)

    def _watch_new_dir(self, path: str) -> None:
        assert self.state.channel is not None
        todo = [path]
        while todo:
            p = todo.pop()
            if p in self.state.watches:
                continue
            try:
                url = self.dcache.subscribe(self.state.channel, p, self.flags)
            except ConfigError as e:
                LOG.warning("new directory %s not watched: %s", p, e)
                continue
            with self.state_lock:
                self.state.watches[p] = url
            self.subs[url] = p
            self._dirty.set()
            LOG.info("watching new directory %s", p)
            todo.extend(self.dcache.subdirectories(p))

    def _submit(self, event: dict[str, Any], eid: str | None) -> None:
        if self.sink.concurrency <= 1:
            self._deliver(event, eid)
            return
        while not self._slots.acquire(timeout=0.5):
            if self.stop_event.is_set() or self.fatal is not None:
                return
        try:
            self.pool.submit(self._deliver_released, event, eid)
        except RuntimeError:  # pool shut down
            self._slots.release()

    def _deliver_released(self, event: dict[str, Any], eid: str | None) -> None:
        try:
            self._deliver(event, eid)
        finally:
            self._slots.release()

    def _deliver(self, event: dict[str, Any], eid: str | None) -> None:
        if self.fatal is not None:
            return
        try:
            self.sink.deliver(event)
        except ListenerError as e:
            self._fail(e)
            return
        except OSError as e:
            self._fail(SinkUnavailable(f"sink: cannot write event {event['event_id']}: {e}"))
            return
        if eid is not None:
            self.tracker.ack(eid)
        else:
            with self.tracker.lock:
                self.tracker.delivered += 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
