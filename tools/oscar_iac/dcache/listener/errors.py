"""The listener's errors and exit codes (0 stopped, 2 bad config, 3 refused, 75 OSCAR
unreachable after the bounded retries), and its logger."""

from __future__ import annotations

import logging

LOG = logging.getLogger("dcache-listener")
EX_CONFIG, EX_REFUSED, EX_TEMPFAIL = 2, 3, 75


class ListenerError(Exception):
    exit_code = 1


class ConfigError(ListenerError):
    exit_code = EX_CONFIG


class Refused(ListenerError):
    """A server refused us in a way retrying cannot mend."""

    exit_code = EX_REFUSED


class SinkUnavailable(ListenerError):
    exit_code = EX_TEMPFAIL


class ChannelGone(Exception):
    """dCache answered 404 for our channel."""
