"""calsync's command line (Typer + Rich). The only place that calls asyncio.run and writes human text."""
