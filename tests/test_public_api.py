from __future__ import annotations

import inspect

import importer


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(importer).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(importer.__all__) == public
    assert len(importer.__all__) == len(set(importer.__all__))
