"""The match graph: built from the event log, stored with an index version, PageRank,
near-duplicate queries, the 0-100 scores and the composite rank, and export."""
