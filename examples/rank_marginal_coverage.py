"""Rank the Kuril units by marginal coverage at 100 m and 10 km.

A unit's marginal coverage is the area that it alone covers: what withdrawing only that
unit would lose. Uses the bundled kurils-2020 scenario (two S-300V4 and a Tor-M2).

Run with ``python examples/rank_marginal_coverage.py``.
"""

from simulator.cache import EnvelopeCache
from simulator.compare import marginal_contributions
from simulator.coverage import build_coverage
from simulator.scenario import bundled_scenario, load_scenario

ALTITUDES_M = [100.0, 10_000.0]
LAYER = "engagement"


def main() -> None:
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    coverage = build_coverage(scenario, cache=EnvelopeCache())  # line of sight is cached on disk
    ranking = marginal_contributions(coverage, altitudes_m=ALTITUDES_M, altitude_ref="msl", layers=[LAYER])

    print(f"{scenario.name}: {LAYER} area only this unit covers [km²], altitudes above mean sea level")
    print(f"{'rank':>4}  {'unit':<16} {'system':<8} {'100 m':>9} {'10 km':>9}")
    for rank, unit in enumerate(ranking, 1):
        lost_km2 = unit.lost_km2_by_altitude[LAYER]
        system = coverage.envelopes[unit.unit].figures.system_name
        print(f"{rank:>4}  {unit.unit:<16} {system:<8} {lost_km2[100.0]:>9,.0f} {lost_km2[10_000.0]:>9,.0f}")


if __name__ == "__main__":
    main()
