"""The KPI glossary: every KPI the API answers is explained in words, to managers and
admins only, in Spanish and English."""

import pytest
from django.test import Client
from django.utils import translation

from analytics.glossary import GLOSSARY
from analytics.kpis import REGISTRY, SMALL_SAMPLE

pytestmark = pytest.mark.django_db

URL = "/analytics/glossary/"


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_registered_kpi_has_a_glossary_entry():
    assert set(REGISTRY) - set(GLOSSARY) == set()


def test_the_glossary_explains_every_kpi_with_its_formula_and_sample(manager_user):
    response = _client(manager_user).get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    for name in REGISTRY:
        entry = GLOSSARY[name]
        assert f'data-kpi="{name}"' in html
        for text in (entry.name, entry.formula, entry.sample):
            assert str(text).replace("'", "&#x27;") in html, name


def test_the_glossary_states_the_no_data_rule_and_the_small_sample_flag(admin_user):
    html = _client(admin_user).get(URL).content.decode()

    assert "“no data”, never 0" in html
    assert f"fewer than {SMALL_SAMPLE} items is flagged as a small sample" in html


def test_agents_may_not_open_the_glossary(agent_user):
    assert _client(agent_user).get(URL).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = _client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_every_glossary_text_is_translated_to_spanish():
    texts = [
        text for entry in GLOSSARY.values() for text in (entry.name, entry.formula, entry.sample)
    ]
    with translation.override("en"):
        english = [str(text) for text in texts]
    with translation.override("es"):
        spanish = [str(text) for text in texts]

    assert [en for en, es in zip(english, spanish, strict=True) if en == es] == []


def test_the_glossary_reads_in_spanish(manager_user):
    manager_user.language = "es"
    manager_user.save()

    html = _client(manager_user).get(URL).content.decode()

    assert '<html lang="es">' in html
    assert "Glosario de KPI" in html
    assert "Tasa de abandono" in html
    assert "Una métrica sin nada que contar muestra «sin datos», nunca 0" in html
