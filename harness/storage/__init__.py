"""The SQLite result store: rows, claims of cells in flight, history, merges."""
