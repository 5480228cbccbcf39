from __future__ import annotations

from fastapi import APIRouter, Depends

from search_api.auth import Caller, get_caller
from search_api.models import MeResponse

router = APIRouter(tags=["auth"])


@router.get("/v1/me", response_model=MeResponse, summary="Who the caller is and which groups they see")
def me(caller: Caller = Depends(get_caller)) -> MeResponse:
    return MeResponse(
        anonymous=caller.anonymous, key_id=caller.key_id, groups=caller.groups, admin=caller.admin,
        name=caller.name,
    )
