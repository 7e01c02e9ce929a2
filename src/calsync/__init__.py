"""calsync: keep Microsoft 365 calendars in step with a system of record."""
