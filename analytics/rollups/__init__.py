"""Daily KPI rollups: families.py says what is summed, build.py writes the tables and
keeps the dirty-day bookkeeping, read.py answers KPIs from them, receivers.py marks days
dirty when the rows they sum change. See analytics/models.py for the tables."""
