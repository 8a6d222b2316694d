"""The sandbox's one exception: a Graph API error answer to return to the caller.

::

    Exception
    └── GraphFailure     carries a ``payloads.GraphError`` (HTTP status + Meta error JSON)
"""

from __future__ import annotations

from .payloads import GraphError


class GraphFailure(Exception):
    """The request fails the way Meta would fail it; ``error`` is the answer to send."""

    def __init__(self, error: GraphError) -> None:
        super().__init__(f"({error.code}) {error.details or error.title}")
        self.error = error
