"""MQTT (``edgecam run --headless --mqtt mqtt://[user:pass@]host[:port]/prefix``).

Topics under the prefix:

- ``<prefix>/predictions``: every result as JSON (QoS 0, not retained), at most
  ``max_rate`` a second (the newest; 30 by default: a camera's rate, not an unpaced file's);
- ``<prefix>/label``: the top-1 label, only when it changes: a new label must score at least
  ``min_score`` and stay on top for ``hold_s`` (QoS 1, retained), so a flicker is not news;
- ``<prefix>/stats``: the pipeline's counters every ``stats_every_s`` (QoS 0, retained);
- ``<prefix>/availability``: ``online`` while connected, ``offline`` on a clean stop and, as
  the broker's last will, when the process dies (QoS 1, retained);
- with ``discovery``, Home Assistant discovery configs under ``homeassistant/`` (retained).

An optional extra (``pip install 'edgecam[mqtt]'``: paho-mqtt 2.x). Importing this package
imports neither paho nor the pipeline: :func:`start_mqtt` does.

- :mod:`edgecam.mqtt.options`: the options, the URL parser and the change-only label filter;
- :mod:`edgecam.mqtt.publisher`: the session listener, its queue and thread, and paho.
"""

from __future__ import annotations

from edgecam.mqtt.options import LabelFilter, MqttOptions, parse_mqtt_url

__all__ = ["LabelFilter", "MqttOptions", "parse_mqtt_url", "require_paho", "start_mqtt"]


def require_paho():
    """Raise a :class:`~edgecam.errors.ConfigError` with the pip command when paho is missing."""
    from edgecam.mqtt.publisher import require_paho

    return require_paho()


def start_mqtt(session, options: MqttOptions):
    """Start publishing ``session``'s results as ``options`` say (before its source starts);
    returns the running :class:`~edgecam.mqtt.publisher.MqttPublisher` (``stop()``)."""
    from edgecam.mqtt.publisher import MqttPublisher

    return MqttPublisher(session, options).start()
