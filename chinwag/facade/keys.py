"""API keys: created (the plaintext shown once), listed, revoked, checked by SHA-256 digest."""

from __future__ import annotations

import hmac
import secrets

from chinwag.actors.access_keys import hash_api_key
from chinwag.actors.session import (
    new_id,
)
from chinwag.errors import (
    NotFound,
)
from chinwag.facade.base import (
    FacadeBase,
)
from chinwag.rules import checked
from chinwag.service import (
    ApiKeyInfo,
)
from chinwag.storage.repository import ApiKeyRecord


class ApiKeysFacade(FacadeBase):
    async def create_api_key(self, name: str) -> tuple[ApiKeyInfo, str]:
        name = checked.api_key_name(name)
        plaintext = "cwk_" + secrets.token_urlsafe(32)
        record = ApiKeyRecord(id=new_id(), name=name, created_at=self.core.clock.now())
        await self.repo.commit(self.repo.put_api_key(hash_api_key(plaintext), record))
        return ApiKeyInfo(record.id, record.name, record.created_at), plaintext

    def list_api_keys(self) -> list[ApiKeyInfo]:
        return [ApiKeyInfo(r.id, r.name, r.created_at) for _, r in self.repo.api_keys()]

    async def revoke_api_key(self, key_id: str) -> None:
        for digest, record in self.repo.api_keys():
            if record.id == key_id:
                await self.repo.commit(self.repo.delete_api_key(digest))
                return
        raise NotFound(f"API key {key_id} was not found")

    def check_api_key(self, presented: str) -> bool:
        if not presented:
            return False
        configured = self.settings.api_key
        if configured and hmac.compare_digest(presented.encode(), configured.encode()):
            return True
        # The lookup is by SHA-256 digest, so timing reveals nothing about the stored keys.
        return self.repo.api_key(hash_api_key(presented)) is not None

    async def acheck_api_key(self, presented: str) -> bool:
        """`check_api_key` without blocking the Trio thread (a round trip on PostgreSQL)."""
        if not presented:
            return False
        configured = self.settings.api_key
        if configured and hmac.compare_digest(presented.encode(), configured.encode()):
            return True
        return await self.repo.aapi_key(hash_api_key(presented)) is not None
