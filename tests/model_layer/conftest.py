"""Gateway test fixtures (the helpers live in importable modules beside this file)."""

from __future__ import annotations

import pytest

from tests.model_layer.live import serve_app


@pytest.fixture
def live_server():
    """``with live_server(app) as base_url: ...``"""
    return serve_app
