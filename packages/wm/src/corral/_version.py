"""The version of Corral's Workspace Manager, the one place it is written.

Hatch reads it from here for the distribution's metadata (``[tool.hatch.version]``), and
the client and the server compare it without asking ``importlib.metadata`` (a 20 ms scan of
``sys.path`` on every command).
"""

__version__ = "0.1.0"
