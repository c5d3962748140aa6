"""The coding loop reads the prompt and window sizes out of every over-the-window error it meets."""

from __future__ import annotations

import pytest

from applications.coding.loop import fit_chars, over_context
from model_layer.errors import ContextWindowExceeded

LLAMA_CPP = (
    "the model rejected the request: request (3000 tokens) exceeds the available context size (2048 tokens)"
)


@pytest.mark.parametrize(
    "error",
    [
        LLAMA_CPP,
        ContextWindowExceeded(3000, None, 2048).message,  # the gateway, no maxTokens
        ContextWindowExceeded(3000, 512, 2048).message,  # the gateway, with maxTokens
    ],
)
def test_sizes_are_read_from_each_error(error):
    assert over_context(error)
    # room for the prompt: 2048 - 512 tokens of a 3000-token prompt, with a 20% margin
    assert fit_chars(12000, error, 512) == int(12000 * 0.8 * 1536 / 3000)


def test_an_error_without_sizes_halves_the_budget():
    assert fit_chars(12000, "Input is too long for requested model (context window)", 512) == 6000
