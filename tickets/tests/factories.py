import factory

from customers.tests.factories import CustomerFactory
from tickets.models import Team, Ticket


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")

    @factory.post_generation
    def members(team, create, extracted, **kwargs):
        if create and extracted:
            team.members.add(*extracted)


class TicketFactory(factory.django.DjangoModelFactory):
    """A new, unassigned ticket. Use the services to move it along, so the
    audit trail and timestamps stay true."""

    class Meta:
        model = Ticket

    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Problem number {n}")
    channel = "email"
