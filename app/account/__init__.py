"""The investor's own account: profile changes, statements, their data and leaving."""
