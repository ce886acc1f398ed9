"""The KPI engine: one documented function per KPI, each computed by the database.

Every function takes a KpiFilter and returns a dict with its figures and `n` (the sample
size); a KPI with no data has `value` None (never 0). The modules register their KPIs in
their `KPIS` dict; REGISTRY is the union, in the order the API lists them.
"""

from . import commerce, customers, surveys, tickets

REGISTRY = {**surveys.KPIS, **customers.KPIS, **tickets.KPIS, **commerce.KPIS}

SMALL_SAMPLE = 30
