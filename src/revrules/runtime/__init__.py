"""Process concerns every command shares: signals, progress bars and log lines."""
