import pytest
from django.conf import settings
from django.utils import translation

from accounts.tests.factories import admin, agent, manager
from customers.tests.factories import CustomerFactory
from tickets.tests.factories import TeamFactory, TicketFactory


@pytest.fixture
def agent_user(db):
    return agent(username="agent")


@pytest.fixture
def manager_user(db):
    return manager(username="manager")


@pytest.fixture
def admin_user(db):
    return admin(username="admin")


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def team(agent_user):
    return TeamFactory(name="Support", members=[agent_user])


@pytest.fixture
def ticket(customer):
    return TicketFactory(customer=customer)


@pytest.fixture(autouse=True)
def _default_language():
    """A request leaves its language active in the thread; tests start from the default."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters and other cached values never carry over between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
