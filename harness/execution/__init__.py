"""Running a grid: plugins found through entry points, the cells planned and trained
(local processes or dask), progress and estimates, devices and provenance."""
