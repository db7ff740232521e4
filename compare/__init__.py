"""The compare harness: run each framework's real migration tools in sandboxes and report side by side."""
