"""Finance operations: bank statements and their matches, balance adjustments, and the figures finance reads."""
