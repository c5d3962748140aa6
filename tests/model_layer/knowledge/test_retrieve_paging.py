"""Retrieve's nextToken paging through botocore's own Retrieve paginator: results that do not fit
one page (STRATA_KB_RETRIEVE_PAGE_BYTES) come in several, in order, none lost or repeated; a
token that is not ours, or replayed with another query, is a ValidationException."""

from __future__ import annotations

import pytest

from model_layer.errors import ValidationException
from model_layer.knowledge import paging
from tests.model_layer.knowledge.conftest import create_kb, folder_source, ingest
from tests.model_layer.knowledge.docs import write_corpus


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setenv("STRATA_KB_RETRIEVE_PAGE_BYTES", "700")  # about one result per page


def test_page_splits_by_bytes_and_always_moves_on():
    results = [{"content": {"text": "x" * 300}, "score": 1.0 - i / 10} for i in range(5)]
    first, following = paging.page(results, 0, 700)
    assert len(first) == 2 and following == 2
    huge = [{"content": {"text": "y" * 5000}}, *results]
    assert paging.page(huge, 0, 700) == ([huge[0]], 1)  # an oversized result still gets its own page
    assert paging.page(results, 0, 1_000_000) == (results, None)
    token = paging.encode(2, "req")
    assert paging.decode(token, "req") == 2
    with pytest.raises(ValidationException):
        paging.decode(token, "another request")
    with pytest.raises(ValidationException):
        paging.decode("not-a-token", "req")


def test_retrieve_pages_through_the_botocore_paginator(small_pages, kb_gateway, docs_root):
    write_corpus(docs_root)
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds_id = agent.create_data_source(
        knowledgeBaseId=kb_id, name="d", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"
    request = {
        "knowledgeBaseId": kb_id,
        "retrievalQuery": {"text": "information"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 5}},
    }
    pages = list(runtime.get_paginator("retrieve").paginate(**request))
    assert len(pages) > 1
    assert all("nextToken" in p for p in pages[:-1]) and "nextToken" not in pages[-1]
    results = [r for p in pages for r in p["retrievalResults"]]
    uris = [r["location"]["webLocation"]["url"] for r in results]
    assert len(results) == 5 and len(set(uris)) == 5
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)  # the pages continue one ranking

    token = pages[0]["nextToken"]
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.retrieve(**request, nextToken="garbage")
    with pytest.raises(runtime.exceptions.ValidationException):  # another query's token
        runtime.retrieve(**{**request, "retrievalQuery": {"text": "something else"}}, nextToken=token)
