"""What a reader sees: task leaderboards, plots, suite pages with their verdicts, exports."""
