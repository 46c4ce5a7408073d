"""The whole schema as the ORM sees it: every feature's rows on the one shared metadata.

Only the composition root knows every feature, so the full metadata is gathered here (for the test
that holds the migrations against the models, and for anyone writing a new migration).
"""

from __future__ import annotations

import callbacks.rows
import cases.rows
import cdr.rows
import console.rows
import ivr.rows
import outbound.rows
import recording.rows
import routing.rows
import screening.rows
import survey.rows
from storage.base import Base

__all__ = ["FEATURE_ROWS", "metadata"]

FEATURE_ROWS = (
    cdr.rows,
    ivr.rows,
    routing.rows,
    callbacks.rows,
    cases.rows,
    survey.rows,
    screening.rows,
    recording.rows,
    outbound.rows,
    console.rows,
)
metadata = Base.metadata
