"""Credential lookups on every request's path, served from memory.

Resolving an API key or an access key id means reading the key set and its tenant (policy:
limits, models, budgets) and, for SigV4, unsealing the secret. :class:`Credentials` caches the
result per key in a :class:`~model_layer.state.cache.RevisionCache`, so the steady state costs a
dict lookup; a change anywhere (a revocation by the CLI, a limit set through the admin API on
another replica) bumps the state revision and every replica re-reads within one poll interval.
Unknown keys are cached as misses too, bounded, so guessing keys costs the database nothing.
Expiry is checked on every use against the cached ``expires_at``, so a key stops working the
second it expires even while cached.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from model_layer.auth.keystore import KeyStore, policy_of
from model_layer.errors import ServiceUnavailableException
from model_layer.state import StateUnavailableError
from model_layer.state.cache import RevisionCache, RevisionWatcher
from model_layer.state.records import parse_iso
from model_layer.types import Tenant


@dataclass(frozen=True)
class Resolved:
    """An active-or-expired key set with its tenant, as the cache holds it."""

    tenant: Tenant
    expires_at: float | None  # epoch seconds
    secret: str | None = None  # the unsealed SigV4 secret (access-key lookups only)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


# A key not in this replica's cache cannot be checked while the store is down: retryable, not 500.
STORE_DOWN = "The credential store is unavailable; retry shortly."


class Credentials:
    def __init__(self, keys: KeyStore, watcher: RevisionWatcher, *, max_entries: int = 10_000):
        self.keys = keys
        self._by_api_key: RevisionCache[str, Resolved | None] = RevisionCache(watcher, max_entries)
        self._by_access_key: RevisionCache[str, Resolved | None] = RevisionCache(watcher, max_entries)

    async def by_api_key(self, api_key: str) -> Resolved | None:
        """The key set an API key belongs to (None: unknown or revoked)."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        try:
            return await self._by_api_key.get(digest, self._load_api_key)
        except StateUnavailableError as exc:
            raise ServiceUnavailableException(STORE_DOWN) from exc

    async def by_access_key(self, access_key_id: str) -> Resolved | None:
        """The key set and unsealed secret of an access key id (None: unknown or revoked)."""
        try:
            return await self._by_access_key.get(access_key_id, self._load_access_key)
        except StateUnavailableError as exc:
            raise ServiceUnavailableException(STORE_DOWN) from exc

    def _load_api_key(self, digest: str) -> Resolved | None:
        found = self.keys.key_set_by_api_key_hash(digest)
        return self._resolved(found) if found is not None else None

    def _load_access_key(self, access_key_id: str) -> Resolved | None:
        found = self.keys.key_set_by_access_key(access_key_id)
        if found is None:
            return None
        resolved = self._resolved(found)
        if resolved is None:
            return None
        secret = self.keys.sealer.unseal(found.sealed_secret)
        return Resolved(resolved.tenant, resolved.expires_at, secret)

    def _resolved(self, key_set) -> Resolved | None:
        if key_set.revoked_at is not None:
            return None
        record = self.keys.get_tenant(key_set.tenant_id)
        tenant = Tenant(key_set.tenant_id, key_set.access_key_id, policy_of(record))
        expires = parse_iso(key_set.expires_at).timestamp() if key_set.expires_at else None
        return Resolved(tenant, expires)


def now() -> float:
    return time.time()
