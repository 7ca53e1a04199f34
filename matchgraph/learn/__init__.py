"""What the log teaches: the query adapter, its fits per catalog version, the fine-tune steps
and the past requests split into actions that the walk starts from."""
