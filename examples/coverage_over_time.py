"""Coverage over time from the scenario's dates.

Each unit of a scenario may carry ``deployed`` and ``withdrawn`` dates. For the day before
the first such date and for every date on which the set of active units changes, print the
active units and the engagement area they cover at 100 m and 10 km. Line of sight runs once
per unit; every date is a subset of the same envelopes.

Run with ``python examples/coverage_over_time.py``.
"""

import datetime as dt

from simulator.cache import EnvelopeCache
from simulator.compare import coverage_over_time, timeline_dates
from simulator.scenario import bundled_scenario, load_scenario

ALTITUDES_M = [100.0, 10_000.0]
LAYER = "engagement"


def main() -> None:
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    changes = timeline_dates(scenario)
    dates = [changes[0] - dt.timedelta(days=1), *changes]
    rows = coverage_over_time(scenario, dates, altitudes_m=ALTITUDES_M, layers=[LAYER], cache=EnvelopeCache())

    print(f"{scenario.name}: {LAYER} area covered [km²], altitudes above mean sea level")
    print(f"{'date':<10}  {'100 m':>9} {'10 km':>9}  active units")
    for row in rows:
        km2 = {r["altitude_m"]: r["covered_km2"] for r in row["layers"][LAYER]}
        print(f"{row['date']:<10}  {km2[100.0]:>9,.0f} {km2[10_000.0]:>9,.0f}  {', '.join(row['active_units'])}")


if __name__ == "__main__":
    main()
