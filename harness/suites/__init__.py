"""Suites (named grids with scales) and the paper claims they state, checked on results:
the claim types, their statistics, and the TOML files suites and run configs are read from."""
