"""CLI commands of this group (filled in by the issue that builds the group)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this group's sub-commands to the zhplm parser."""
