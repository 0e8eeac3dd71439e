"""Library chatter kept out of the terminal: what the CLI, the demo and the benchmarks do unless ``--verbose``."""

from __future__ import annotations

import logging
import warnings

__all__ = ["quiet_libraries"]


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def quiet_libraries(keep_logs: bool = False) -> None:
    """Keep library chatter (encoder logs, warnings, and unless ``keep_logs`` info logs) out of the terminal;
    the demo keeps logs, since Dagster's run log is its progress. Call it before robosuite is imported."""
    warnings.simplefilter("ignore")
    if not keep_logs:
        logging.disable(logging.WARNING)  # libraries' info and warning logs; errors still show
    # robosuite sets its logger's level and console handler when imported (its macro-file and optional-model
    # warnings), so only a filter on that logger keeps them out
    logging.getLogger("robosuite_logs").addFilter(_errors_only)
    try:
        import av.logging

        av.logging.set_level(av.logging.PANIC)
    except ImportError:
        pass
