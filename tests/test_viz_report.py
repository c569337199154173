"""The run report (viz/report): sections, embedded images, links, numbers, and the adapt / simulate
sections from results in the contracts' layout; ``run`` writes it at the end."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.viz_synthetic import add_adapt_and_simulate

BASE_SECTIONS = {"overview", "stages", "hours", "rejections", "metrics", "difficulty", "worst", "clips"}


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="(\w+)" data-section="\1">', page)


def embedded_images(page: str) -> list[Image.Image]:
    images = []
    for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()                                                  # decodes every pixel
        images.append(img)
    return images


@pytest.fixture(scope="module")
def report(default_run, tmp_path_factory):
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(default_run, out)
    assert main(["report", str(out), "--max-clips", "3"]) == 0
    return out


def test_report_has_every_section_and_decodable_images(report):
    page = (report / "report" / "index.html").read_text()
    ran = json.loads((report / "run.json").read_text())["stages"]
    optional = {"adaptation"} if "adapt" in ran else set()
    optional |= {"simulation"} if "simulate" in ran else set()
    assert optional == {"adaptation", "simulation"}                # both run by default
    assert set(sections(page)) == BASE_SECTIONS | optional
    images = embedded_images(page)
    # stage counts, retarget + filter metric histograms, difficulty histograms, dataset figure, adaptation figures
    assert len(images) >= 5 and all(im.format == "PNG" and im.width >= 300 and im.height >= 200 for im in images)
    # self-contained: nothing fetched from a network, every local link resolves
    assert not re.search(r'(src|href)="(https?:)?//', page)
    links = re.findall(r'href="([^"#][^"]*)"', page)
    assert links and all((report / "report" / link).is_file() for link in links)
    assert sum(link.endswith("preview.mp4") for link in set(links)) == 3


def test_report_numbers_match_the_run(report):
    data = json.loads((report / "run.json").read_text())
    page = (report / "report" / "index.html").read_text()
    t = data["totals"]
    hours = page[page.index('id="hours"'):page.index('id="rejections"')]
    for key in ("hours_kept", "hours_rejected"):
        assert f"{t['filter'][key]:.4f}" in hours
    rejections = page[page.index('id="rejections"'):page.index('id="metrics"')]
    for reason in t["rejected_by_reason"]:                           # "filter:floating" etc., with first message
        stage, code = reason.split(":")
        assert f"<b>{code}</b>" in rejections
        first = next(c for c in data["clips"] if c["status"] == "rejected" and c["stages"][stage]["reason"] == code)
        assert first["clip_id"] in rejections and first["stages"][stage]["message"] in rejections
    # every varying retarget metric is listed; the worst clip of the limb error is the too-fast demo clip
    worst = page[page.index('id="worst"'):page.index('id="clips"')]
    row = re.search(r"retarget\.limb_direction_error_deg</td><td><b>(\w+)</b>", worst)
    values = {c["clip_id"]: c["stages"]["retarget"]["summary"]["limb_direction_error_deg"] for c in data["clips"]}
    assert row and row.group(1) == max(values, key=values.get)
    assert page.count("<tr>") > 15 + len(data["clips"])


def test_report_shows_adaptation_and_simulation_when_present(default_run, tmp_path):
    from viz.report.api import ReportSettings, write_report

    run = add_adapt_and_simulate(default_run, tmp_path / "run", fall_clip="demo__walk_straight_s0")
    result = write_report(run, ReportSettings(max_clips=2, workers=1))
    page = result.path.read_text()
    assert set(sections(page)) == BASE_SECTIONS | {"adaptation", "simulation"}
    assert all(im.width > 100 for im in embedded_images(page))
    adaptation = page[page.index('id="adaptation"'):page.index('id="simulation"')]
    # zmp_outside_frac halves in every one of the 11 adapted clips: 11 better, 0 worse
    row = re.search(r"<td>zmp_outside_frac</td><td class=\"num\">11</td>.*?good'>(\d+)<.*?bad'>(\d+)<", adaptation)
    assert row and row.groups() == ("11", "0")
    assert "-50 %" in adaptation and "+5 %" in adaptation           # the error measure got 5 % worse
    simulation = page[page.index('id="simulation"'):page.index('id="worst"')]
    assert "clips with a fall</td><td>1<" in simulation
    first = re.search(r"<tr><td>(\w+)</td><td class=\"num\">1</td>", simulation)
    assert first and first.group(1) == "demo__walk_straight_s0"       # the clip that fell is listed first
    assert "sim_fall" in page and "adapted (adapt stage made a new motion)" in page
    assert result.clips_with_media == 2


def test_run_writes_the_report_after_the_dataset(default_run, tmp_path, monkeypatch):
    import viz.report.api as api
    from pipeline.cli import main

    out = tmp_path / "run"
    shutil.copytree(default_run, out)
    calls: list[Path] = []
    monkeypatch.setattr(api, "write_report", lambda path, *a, **k: calls.append(Path(path)) or
                        api.ReportResult(Path(path) / "report" / "index.html", 0.0, 0, None))
    args = ["run", "--manifest", str(Path(__file__).resolve().parents[1] / "manifests" / "default.yaml"), "--out", str(out),
            "--workers", "0", "--no-progress", "--quiet"]
    assert main(args) == 0 and calls == [out]                     # cached run, then the report
    assert main(args + ["--no-report"]) == 0 and calls == [out]
