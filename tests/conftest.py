"""Test configuration: 4 fake CPU devices for the parallel code, float32 everywhere."""

import os

# Must happen before the first JAX operation in the process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import json  # noqa: E402
import logging  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Reference values computed with the original releases (see tests/data/golden/README.md).
GOLDEN = pathlib.Path(__file__).resolve().parent / "data" / "golden"


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """The root logger's handlers and level as they were before the test: a command's `main()` run in
    the test process (`logging.basicConfig`) must not leave a handler on the test's captured stderr,
    which is closed afterwards, nor INFO logging, for the tests that follow on the same worker."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """The golden reference values kept in the repository (tests/data/golden)."""
    return GOLDEN


@pytest.fixture(scope="session")
def golden_cases(golden_dir):
    """Loads a golden file's cases: `golden_cases("public.json")` -> one dict per case with its inputs
    (features, probs, labels, num_classes; reference_features where the file names them) and `reference`."""
    arrays = np.load(golden_dir / "public.npz")

    def load(name: str) -> list[dict]:
        cases = json.loads((golden_dir / name).read_text())
        references = np.load(golden_dir / name.replace(".json", ".npz")) if "reference_features" in cases[0] else None
        out = []
        for c in cases:
            case = dict(
                features=arrays[f"features_{c['case']}"],
                probs=arrays[f"probs_{c['case']}"],
                labels=arrays[f"labels_{c['case']}"],
                num_classes=c["num_classes"],
                reference=c["reference"],
            )
            if references is not None:
                case["reference_features"] = references[c["reference_features"]["npz_key"]]
            out.append(case)
        return out

    return load
