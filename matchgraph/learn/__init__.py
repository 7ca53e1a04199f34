"""What the log teaches: the query adapter that reshapes a request's vector towards what people
chose, and its fits, one per catalog version, log and settings."""
