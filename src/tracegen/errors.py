"""Exception types shared by the whole core.

Every error raised for bad input says what was wrong, the value seen, and what to do
(STYLE.md). Catch :class:`InputError` at process boundaries (nodes, CLI) to report and go on.
"""


class TracegenError(Exception):
    """Base class of every error tracegen raises on purpose."""


class InputError(TracegenError, ValueError):
    """Input data (arrays, files, parameters) that violate a documented contract."""


class TraceError(InputError):
    """A trace, grid or intrinsics that violate the trace contract (DESIGN.md)."""
