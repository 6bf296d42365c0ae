"""Settings that guard money: limits, fees, thresholds and holds, kept in the database and changed only by a
proposal that a second person approves."""
