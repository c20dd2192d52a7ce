"""What the services' settings share: the start-up configuration error and the log-level rule."""
from __future__ import annotations

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """The service cannot start with this configuration; the message says which variable to set.

    The entry point turns it into one log line and exit code 2 (see `entrypoint.run_process`).
    """


def check_log_level(value: str, variable: str) -> str:
    """`value` upper-cased; ValueError naming `variable` unless it is a standard logging level."""
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"{variable} must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()
