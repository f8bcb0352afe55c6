"""``make mutate`` (tests/mutate.py) points at files and functions that exist.

The mutation run itself is slow and not part of the tests (docs/testing.md); these checks keep
its configuration from going stale silently when a module, test file or function is renamed.
"""

import tomllib

import pytest

from tests import mutate


@pytest.mark.parametrize("key", sorted(mutate.MODULES))
def test_every_module_and_its_tests_exist(key):
    module, patterns = mutate.MODULES[key]
    assert (mutate.ROOT / module).is_file()
    tests = mutate.own_tests(patterns)
    assert len(tests) >= len(patterns)  # every pattern matched at least one file
    mutate.subset_functions_exist(key)
    section = tomllib.loads(mutate.mutmut_section(module, tests))["tool"]["mutmut"]
    assert section["only_mutate"] == [module]
    assert section["pytest_add_cli_args_test_selection"] == tests


def test_a_subset_naming_a_missing_function_is_refused(monkeypatch):
    glob = "spectm.train.pretrain.x__check_resumable__mutmut_*"  # an old name, not in pretrain.py
    monkeypatch.setitem(mutate.SUBSETS, "pretrain", (glob,))
    with pytest.raises(ValueError, match=r"names no function of src/spectm/train/pretrain\.py"):
        mutate.subset_functions_exist("pretrain")
    with pytest.raises(FileNotFoundError, match="no test file matches"):
        mutate.own_tests(("tests/no_such_test_*.py",))
