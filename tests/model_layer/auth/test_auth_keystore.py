"""The key store: issuing, listing, revoking; secrets sealed, API keys hashed, file mode 0600."""

from __future__ import annotations

import re
import stat

import pytest

from model_layer.auth.keystore import KeyStore
from model_layer.auth.sealing import KEY_FILE_NAME, Sealer
from model_layer.settings import GatewaySettings
from model_layer.state import DB_FILE_NAME
from strata.errors import ConfigurationError, NotFoundError, StrataError


@pytest.fixture
def store(tmp_path):
    ks = KeyStore.open(GatewaySettings(home=tmp_path))
    yield ks
    ks.close()


def test_issued_keys_look_like_aws_and_resolve_to_the_tenant(store):
    issued = store.create_keys("acme", requests_per_minute=10, tokens_per_minute=5000)
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", issued.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", issued.secret_access_key)
    assert issued.api_key.startswith("sk-strata-") and len(issued.api_key) > 40
    assert store.secret_for(issued.access_key_id) == ("acme", issued.secret_access_key)
    assert store.find_api_key(issued.api_key) == ("acme", issued.access_key_id)
    tenant = store.get_tenant("acme")
    assert (tenant.requests_per_minute, tenant.tokens_per_minute) == (10, 5000)


def test_files_are_private_and_hold_no_plaintext_secret(store, tmp_path):
    issued = store.create_keys("acme")
    for name in (DB_FILE_NAME, KEY_FILE_NAME):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(DB_FILE_NAME))
    assert issued.secret_access_key.encode() not in raw
    assert issued.api_key.encode() not in raw


def test_revocation_is_immediate_and_covers_both_credentials(store, tmp_path):
    issued = store.create_keys("acme")
    other = KeyStore.open(GatewaySettings(home=tmp_path))  # e.g. the CLI next to a running gateway
    try:
        record = other.revoke(issued.access_key_id)
    finally:
        other.close()
    assert not record.active and record.revoked_at
    assert store.secret_for(issued.access_key_id) is None
    assert store.find_api_key(issued.api_key) is None
    assert store.revoke(issued.access_key_id).revoked_at == record.revoked_at  # idempotent


def test_list_filters_by_tenant_and_hides_secrets(store):
    a = store.create_keys("acme")
    store.create_keys("beta")
    rows = store.list_keys("acme")
    assert [r.access_key_id for r in rows] == [a.access_key_id]
    as_dict = rows[0].to_dict()
    assert as_dict["status"] == "active"
    assert a.secret_access_key not in str(as_dict) and a.api_key not in str(as_dict)
    assert as_dict["api_key_hint"].endswith(a.api_key[-4:])


def test_limits_update_on_later_create_and_are_validated(store):
    store.create_keys("acme", requests_per_minute=10)
    store.create_keys("acme", tokens_per_minute=99)
    tenant = store.get_tenant("acme")
    assert (tenant.requests_per_minute, tenant.tokens_per_minute) == (10, 99)
    with pytest.raises(StrataError, match="--rpm must be at least 1"):
        store.create_keys("acme", requests_per_minute=0)
    with pytest.raises(StrataError, match="invalid tenant id"):
        store.create_keys("no spaces")


def test_unknown_key_revocation_is_a_not_found_error(store):
    with pytest.raises(NotFoundError, match="no key 'AKIANOPE'"):
        store.revoke("AKIANOPE")


def test_sealing_key_from_settings_and_wrong_key_is_a_clear_error(tmp_path):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    ks = KeyStore.open(GatewaySettings(home=tmp_path, keystore_key=key))
    issued = ks.create_keys("acme")
    ks.close()
    assert not (tmp_path / KEY_FILE_NAME).exists()  # the key lives only in the setting
    wrong = KeyStore.open(GatewaySettings(home=tmp_path, keystore_key=Fernet.generate_key().decode()))
    try:
        with pytest.raises(ConfigurationError, match="cannot be decrypted"):
            wrong.secret_for(issued.access_key_id)
    finally:
        wrong.close()
    with pytest.raises(ConfigurationError, match="not a valid Fernet key"):
        Sealer("not-a-key")
