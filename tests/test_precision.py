"""The float32 precision rules (scratch_lstm.precision): read torch's settings, old API and new,
without ever raising; set both cuBLAS and cuDNN; put them back."""

import pytest
import torch

from scratch_lstm.precision import (
    PRECISIONS,
    _cudnn_precision,
    fp32_precision,
    matmul_precision,
    set_fp32_precision,
)

NEW_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")  # torch >= 2.9


@pytest.fixture(autouse=True)
def restore_torch_settings():
    """Every setting these tests touch, as it was."""
    legacy = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    new = (torch.backends.cuda.matmul.fp32_precision, torch.backends.fp32_precision) if NEW_API else None
    yield
    if NEW_API:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.fp32_precision = new
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = legacy


@pytest.mark.parametrize("precision", PRECISIONS)
def test_set_then_read_back_through_both_apis(precision):
    set_fp32_precision(precision)
    assert matmul_precision() == precision and _cudnn_precision() == precision
    assert torch.backends.cuda.matmul.allow_tf32 == torch.backends.cudnn.allow_tf32 == (precision == "tf32")
    if NEW_API:
        assert torch.backends.cuda.matmul.fp32_precision == precision


@pytest.mark.skipif(not NEW_API, reason="this torch has no fp32_precision API")
def test_the_new_api_is_read_where_the_legacy_flag_refuses_to_answer():
    set_fp32_precision("ieee")
    torch.backends.cuda.matmul.fp32_precision = "none"
    torch.backends.fp32_precision = "tf32"  # inherited by the matmul setting, which is "none"
    assert matmul_precision() == "tf32"
    torch.backends.fp32_precision = "none"
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    try:
        torch.backends.cuda.matmul.allow_tf32  # noqa: B018  what a reader of the old flag meets
    except RuntimeError:
        pass  # torch 2.14: "you have used mix of the legacy and new APIs"
    assert matmul_precision() == "tf32"
    set_fp32_precision("ieee")  # the legacy setters bring both APIs back in line
    assert matmul_precision() == "ieee" and torch.backends.cuda.matmul.allow_tf32 is False


def test_the_context_puts_the_settings_back_even_after_an_error():
    set_fp32_precision("ieee")
    with pytest.raises(KeyError):
        with fp32_precision("tf32"):
            assert matmul_precision() == _cudnn_precision() == "tf32"
            raise KeyError
    assert matmul_precision() == _cudnn_precision() == "ieee"


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        set_fp32_precision("bf16")
