"""One cell of the benchmark under the fair protocol: the data draws and splits, the edge
search, the run of a cell with its scoring, and the fingerprints of the code it ran."""
