"""The extraction benchmark script runs end to end at tiny settings and writes its results."""

import importlib.util
import json
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "extraction.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("extraction_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_json_and_markdown(bench, tmp_path):
    argv = [
        "--models",
        "cnn_small",
        "--batch-sizes",
        "6",
        "--dtypes",
        "float32,bfloat16",
        "--strategies",
        "mesh,pmap",
        "--steps",
        "2",
        "--repeats",
        "1",
        "--devices",
        "2",
        "--image-size",
        "28",
        "--out",
        str(tmp_path),
        "--tag",
        "smoke",
    ]
    assert bench.main(argv) == 0
    payload = json.loads((tmp_path / "extraction_smoke.json").read_text())
    assert payload["machine"]["backend"] == "cpu" and payload["argv"] == argv
    rows = payload["results"]
    assert {(r["dtype"], r["strategy"]) for r in rows} == {
        (d, s) for d in ("float32", "bfloat16") for s in ("mesh", "pmap")
    }
    for r in rows:
        assert (r["devices"], r["global_batch"], r["images_per_run"], r["image_size"]) == (2, 6, 12, 28)
        assert r["e2e_img_s"] > 0 and r["device_img_s"] > 0
        assert r["e2e_img_s_per_device"] == pytest.approx(r["e2e_img_s"] / 2)
    md = (tmp_path / "extraction_smoke.md").read_text()
    assert md.count("| cnn_small | 28 |") == 4


@pytest.mark.parametrize("argv", [["--models", "no_such_model"], ["--batch-sizes", "0"]])
def test_bad_flags_exit_2(bench, tmp_path, capsys, argv):
    assert bench.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("extraction benchmark: ") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())
