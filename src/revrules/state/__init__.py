"""What outlives a run: the ledger, incremental watermarks and the run lock."""
