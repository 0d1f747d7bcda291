"""The benchmark report compares figures across scales only when one machine measured them."""

import json

from bench import report


def _result(scale, cpu, calibration, value, platform="Linux-x"):
    machine = {"cpu": cpu, "platform": platform, "load_average": [0.5], "cores": 2}
    if calibration is not None:
        machine["calibration_ms"] = calibration
    return {
        "scale": scale,
        "scale_label": f"{scale}",
        "database": "sqlite",
        "repeat": 1,
        "smoke": False,
        "started": "2026-12-07T00:00:00+00:00",
        "finished": "2026-12-07T00:01:00+00:00",
        "command": "make bench",
        "machine": machine,
        "parts": {"api": {"part": "api", "seconds": 1}},
        "figures": [
            {
                "part": "api",
                "name": "GET one person, throughput",
                "unit": "req/s",
                "value": value,
                "min": value,
                "max": value,
                "samples": [value],
                "higher_is_better": True,
                "budget": None,
                "status": None,
                "reference": None,
                "reference_value": None,
                "ratio": None,
            }
        ],
        "not_measured": [],
    }


def _latest(tmp_path, *results):
    for i, result in enumerate(results):
        (tmp_path / f"2026120{i}T000000Z-{result['scale']}-sqlite.json").write_text(json.dumps(result))
    return report.latest(tmp_path)


def test_same_machine_needs_the_same_processor_and_a_close_calibration():
    epyc = {"cpu": "AMD EPYC", "calibration_ms": 10.0, "platform": "p"}
    assert report.same_machine(epyc, {**epyc, "calibration_ms": 12.0})
    assert not report.same_machine(epyc, {**epyc, "calibration_ms": 19.0})  # a machine at half speed
    assert not report.same_machine(epyc, {**epyc, "cpu": "Intel(R) Xeon(R) Processor"})
    older = {"cpu": "AMD EPYC", "platform": "p"}  # recorded before the calibration was
    assert not report.same_machine(epyc, older)
    assert report.same_machine(older, dict(older))
    assert not report.same_machine(older, {**older, "platform": "q"})


def test_growth_is_left_out_between_machines_and_kept_within_one(tmp_path):
    results = _latest(
        tmp_path,
        _result(10_000, "AMD EPYC", 10.0, 1000.0),
        _result(100_000, "AMD EPYC", 10.5, 900.0),
        _result(1_000_000, "AMD EPYC", 21.0, 400.0),
    )
    table = report.growth_table(results)
    row = next(line for line in table.splitlines() if line.startswith("| GET one person, throughput"))
    cells = [cell.strip() for cell in row.strip("|").split("|")][1:]
    assert cells[0].startswith("×1.11") and cells[0].endswith("pass")  # 10k → 100k, one machine
    assert cells[1] == "— (different machines)"  # 100k → 1M
    assert cells[2] == "— (different machines)"  # 10k → 1M


def test_scaling_table_names_each_figures_machine_when_there_are_several(tmp_path):
    results = _latest(
        tmp_path, _result(10_000, "AMD EPYC", 10.0, 1000.0), _result(100_000, "AMD EPYC", 21.0, 500.0)
    )
    table = report.scaling_table(results)
    assert "A = AMD EPYC, calibration 10 ms; B = AMD EPYC, calibration 21 ms" in table
    assert "| GET one person, throughput (req/s) | 1,000 (A) | 500 (B) |" in table


def test_one_machine_needs_no_labels(tmp_path):
    results = _latest(
        tmp_path, _result(10_000, "AMD EPYC", 10.0, 1000.0), _result(100_000, "AMD EPYC", 11.0, 950.0)
    )
    assert report.machine_labels(results) == []
    assert "| GET one person, throughput (req/s) | 1,000 | 950 |" in report.scaling_table(results)
