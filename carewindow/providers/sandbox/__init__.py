"""The built-in sandbox: an in-memory emulator of the Graph API subset carewindow uses.

See docs/subsystems/sandbox.md.
"""

from __future__ import annotations

from .app import create_sandbox_app
from .callbacks import Delivery, HttpClientFactory
from .config import SandboxConfig
from .simulator import Sandbox

__all__ = ["Delivery", "HttpClientFactory", "Sandbox", "SandboxConfig", "create_sandbox_app"]
