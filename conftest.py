import pytest

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
