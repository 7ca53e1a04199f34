"""The ground floor: settings, typed errors, input validation, the catalog and its signals,
events, the shapes the engine returns, and small helpers every other package uses."""
