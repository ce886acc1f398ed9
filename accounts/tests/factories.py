import factory
from django.contrib.auth.models import Group

from accounts.models import User
from cxm import roles


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@cxm.example")
    password = factory.django.Password("demo-password")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create and extracted:
            user.groups.add(Group.objects.get(name=extracted))


def agent(**kwargs) -> User:
    return UserFactory(role=roles.AGENT, **kwargs)


def manager(**kwargs) -> User:
    return UserFactory(role=roles.MANAGER, **kwargs)


def admin(**kwargs) -> User:
    return UserFactory(role=roles.ADMIN, is_staff=True, **kwargs)
