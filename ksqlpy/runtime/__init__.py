"""Runtime: the engine entry point, persistent and transient queries, command log."""
