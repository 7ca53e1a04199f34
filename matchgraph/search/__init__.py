"""Ranking for one request: artifacts (search), tools (find_tools), past requests asked
again, similar capabilities, A vs B comparison, evaluation and the agents' token budget."""
