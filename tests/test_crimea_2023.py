"""The seed's second event: an S-400 reported destroyed at Cape Tarkhankut on 23 Aug 2023 (issue #11)."""

from __future__ import annotations

import json

import pytest

from simulator.cli import main
from simulator.scenario import bundled_scenario, load_scenario


def test_the_tarkhankut_s400_is_a_destruction_claim_with_its_sources():
    scenario = load_scenario(bundled_scenario("crimea-2023"))
    unit = scenario.unit("tarkhankut-s400")
    assert unit.status == "destroyed_claim" and str(unit.withdrawn) == "2023-08-23" and unit.deployed is None
    assert (unit.lat_deg, unit.lon_deg, unit.position_precision_km) == (45.3478, 32.4961, 10)
    assert {"cnn_live_2023_08_23", "newsweek_2023_08_23", "kyivpost_2023_08_23", "wiki_ru_tarkhankut"} <= set(unit.sources)
    assert {"feodosia-s400", "sevastopol-s400", "yevpatoria-s400", "dzhankoy-s400"} <= set(scenario.unit_ids)
    assert "14 Sep 2023" in scenario.unit("yevpatoria-s400").dates_note  # the later claim, on the timeline


@pytest.mark.slow
def test_compare_across_the_claim_shows_what_it_alone_covered(capsys):
    path = str(bundled_scenario("crimea-2023"))
    assert main(["compare", path, "--as-of", "2023-08-22", "--vs-as-of", "2023-08-24", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["withdrawn_units"] == ["tarkhankut-s400"]
    detail = result["withdrawn_unit_details"][0]
    assert detail["status"] == "destroyed_claim" and detail["withdrawn"] == "2023-08-23"
    assert "cnn_live_2023_08_23" in detail["sources"]
    for layer, rows in result["layers"].items():
        for row in rows:
            assert row["lost_km2"] > 0 and row["gained_km2"] == 0, (layer, row["altitude_m"])
    assert main(["compare", path, "--as-of", "2023-08-22", "--vs-as-of", "2023-08-24", "--altitudes-m", "1000"]) == 0
    assert "tarkhankut-s400 (S-400 Triumf, reported destroyed (a claim) on 2023-08-23)" in capsys.readouterr().out.replace("\n", "")
