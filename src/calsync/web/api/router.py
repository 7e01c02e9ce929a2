"""The REST API's routes (`/v1`): thin, each a call of a use case in calsync.services.unified.

`api_router(deployment, request_run=...)` builds them for one deployment; `require_scope` (auth.py)
guards each. The answers' shapes follow Cronofy's (service-facts §1); errors are errors.py's one shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends

from calsync.services import Deployment
from calsync.services.api_keys import ApiPrincipal
from calsync.services.unified import UnifiedApi
from calsync.web.api.auth import require_scope
from calsync.web.api.errors import responses
from calsync.web.api.models import ProfilesAnswer

RequestRun = Callable[[str], Awaitable[None]]
"""Ask the runtime for a run of one scope (`profile:mailbox`): the scheduler in-process, or a job."""

Reader = Annotated[ApiPrincipal, Depends(require_scope("read"))]
Writer = Annotated[ApiPrincipal, Depends(require_scope("write"))]


def api_router(deployment: Deployment, *, request_run: RequestRun | None = None) -> APIRouter:
    """The `/v1` routes of one deployment (include them with prefix "/v1")."""
    api = UnifiedApi(deployment)
    router = APIRouter(responses=responses(401, 403))

    @router.get("/profiles", response_model=ProfilesAnswer, operation_id="listProfiles", tags=["profiles"])
    async def list_profiles(principal: Reader) -> dict[str, object]:
        """Each connected mailbox, with Cronofy's provider name for Microsoft 365 ("exchange")."""
        return {"profiles": await api.profiles()}

    return router
