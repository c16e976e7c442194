"""The run itself: every cell from its plan to its record, in the schedule's order."""
