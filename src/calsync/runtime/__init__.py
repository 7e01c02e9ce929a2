"""When work runs: the in-process scheduler of `calsync serve` on the embedded default, or Procrastinate
jobs run by `calsync worker` on PostgreSQL. What a run does is calsync.services' business."""

from __future__ import annotations
