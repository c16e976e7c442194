"""The fifth step: the cell record, the run's metadata and the run folders that hold them."""
