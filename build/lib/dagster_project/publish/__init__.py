"""Publishing the marts to the BI snapshot: built aside, swapped in atomically."""
