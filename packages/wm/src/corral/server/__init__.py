"""The WM server: one long-lived Workspace Manager per (user, workspace) behind a socket."""
