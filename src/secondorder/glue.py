"""What every Snakemake script does around its one call into the library.

A script logs into its rule's log file. A user's mistake (a malformed spec, missing or corrupt
data, an unusable device) ends the job with one line, ``<rule>: error: <message>``, in the log
and on stderr and exit status 1, as the command line does, instead of a traceback that leaves
the log with only "preparing ...". Unexpected failures keep their traceback (in the log too).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from secondorder.errors import ConfigError, DataError, DeviceError

USER_ERRORS = (ConfigError, DataError, DeviceError)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def rule_job(rule: str, log_file: str | Path, *, append: bool = False) -> Iterator[None]:
    """Log into ``log_file`` (appending to earlier attempts when ``append``) inside the block;
    turn a user error raised there into one line and ``SystemExit(1)``."""
    logging.basicConfig(
        filename=log_file, filemode="a" if append else "w", level=logging.INFO, format=LOG_FORMAT
    )
    try:
        yield
    except USER_ERRORS as error:
        line = f"{rule}: error: {' '.join(str(error).split())}"
        logging.getLogger("secondorder").error(line)
        print(line, file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        logging.getLogger("secondorder").exception("%s failed", rule)
        raise
