"""The `calsync demo` pieces: a demo tenant, a semester timetable and its feeds. May import graphemu."""
