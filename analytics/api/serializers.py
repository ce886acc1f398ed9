"""What the KPI endpoints read and answer. The query parameters are checked here (dates,
range, known ids); the figures are analytics.kpis', passed through unrounded."""

from datetime import date

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.api.serializers import RelatedIdField
from customers.models import Channel
from cxm.lib.timestamps import validate_day
from surveys.models import Survey
from tickets.models import Team

from ..filters import KpiFilter
from ..kpis import REGISTRY, SMALL_SAMPLE
from ..selectors import MAX_BUCKETS, Interval, series_bucket_count

MAX_YEARS = 5


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


class KpiFilterSerializer(serializers.Serializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD plus optional dimensions. `from` is a Python
    keyword, so the field is declared as date_from and renamed in get_fields()."""

    date_from = serializers.DateField(
        validators=[validate_day],
        help_text=_("First day of the period (inclusive), in the company's time zone."),
    )
    to = serializers.DateField(
        validators=[validate_day],
        help_text=_("Last day of the period (inclusive), in the company's time zone."),
    )
    team = RelatedIdField(
        queryset=Team.objects.all(),
        required=False,
        help_text=_("Only tickets and answers of this team (id)."),
        error_messages={"does_not_exist": _("No team has the id {pk_value}.")},
    )
    agent = RelatedIdField(
        queryset=get_user_model().objects.all(),
        required=False,
        help_text=_(
            "Only tickets this agent solved and answers about them (user id). "
            "Customer and purchase KPIs ignore this filter."
        ),
        error_messages={"does_not_exist": _("No user has the id {pk_value}.")},
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        help_text=_("Only tickets and answers from this channel."),
    )
    category = serializers.CharField(
        max_length=60, required=False, help_text=_("Only tickets and answers of this category.")
    )
    segment = serializers.CharField(
        max_length=60, required=False, help_text=_("Only customers of this segment.")
    )
    survey = RelatedIdField(
        queryset=Survey.objects.all(),
        required=False,
        help_text=_("Only answers to (and invitations of) this survey (id)."),
        error_messages={"does_not_exist": _("No survey has the id {pk_value}.")},
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {"from": fields.pop("date_from"), **fields}

    def validate(self, attrs: dict) -> dict:
        date_from, date_to = attrs["from"], attrs["to"]
        if date_from > date_to:
            raise serializers.ValidationError(
                {"to": [_("The last day is before the first day (from).")]}
            )
        if date_to >= _years_later(date_from, MAX_YEARS):
            raise serializers.ValidationError(
                {"to": [_("The period may span at most %(years)d years.") % {"years": MAX_YEARS}]}
            )
        return attrs

    def to_filter(self) -> KpiFilter:
        data = self.validated_data
        related = {name: data[name].pk for name in ("team", "agent", "survey") if name in data}
        plain = {name: data[name] for name in ("channel", "category", "segment") if name in data}
        return KpiFilter(date_from=data["from"], date_to=data["to"], **related, **plain)


class KpiSeriesFilterSerializer(KpiFilterSerializer):
    interval = serializers.ChoiceField(
        choices=[(interval.value, interval.value) for interval in Interval],
        default=Interval.DAY.value,
        help_text=_(
            "Bucket size: calendar days, weeks from Monday to Sunday, or calendar months; "
            "the first and last buckets are clipped to the period."
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # Built per request: the metrics are whatever analytics.kpis registered.
        metric = serializers.ChoiceField(
            choices=list(REGISTRY),
            help_text=_("The KPI to draw: one of the names /kpis/ answers."),
            error_messages={
                "invalid_choice": _("Unknown metric “{input}”. Choose one of: %(metrics)s.")
                % {"metrics": ", ".join(REGISTRY)}
            },
        )
        return {"metric": metric, **super().get_fields()}

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        buckets = series_bucket_count(attrs["from"], attrs["to"], attrs["interval"])
        if buckets > MAX_BUCKETS:
            raise serializers.ValidationError(
                {
                    "interval": [
                        _(
                            "This period has %(buckets)d buckets of this size; at most "
                            "%(max)d are drawn. Choose a longer interval or a shorter period."
                        )
                        % {"buckets": buckets, "max": MAX_BUCKETS}
                    ]
                }
            )
        return attrs


# --- Answers (documentation of the shapes; the KPI dicts are returned as computed)

_FIGURES_SCHEMA = {
    "type": "object",
    "description": (
        "The KPI's figures: `value` (or median_s, mean_s and p90_s for times), `n` (sample "
        f"size), `small_sample` (n below {SMALL_SAMPLE}) and the KPI's own extra figures "
        "(promoters, margin95, mean, agree_share…). Percentages are 0-100 with full "
        "precision; a KPI without data has null figures and n 0."
    ),
    "properties": {
        "value": {"type": "number", "nullable": True},
        # The time KPIs (response and resolution times, in calendar time or in business
        # hours, the closed-loop time) answer seconds instead of a value.
        **{
            name: {"type": "number", "nullable": True, "description": description}
            for name, description in (
                ("median_s", "Time KPIs: the median, in seconds."),
                ("mean_s", "Time KPIs: the mean, in seconds."),
                ("p90_s", "Time KPIs: the 90th percentile, in seconds."),
            )
        },
        "n": {"type": "integer"},
        "small_sample": {"type": "boolean"},
    },
    "required": ["n", "small_sample"],
    "additionalProperties": True,
}


@extend_schema_field(
    {
        **_FIGURES_SCHEMA,
        "properties": {
            **_FIGURES_SCHEMA["properties"],
            "previous": {
                **_FIGURES_SCHEMA,
                "description": "The same KPI over the period of equal length just before.",
            },
        },
        "required": [*_FIGURES_SCHEMA["required"], "previous"],
    }
)
class KpiField(serializers.DictField):
    pass


class KpisSerializer(serializers.Serializer):
    """One field per registered KPI, so the schema names every KPI the API answers."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: KpiField() for name in REGISTRY}


class KpiFiltersOutputSerializer(serializers.Serializer):
    team = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    segment = serializers.CharField(allow_null=True)
    survey = serializers.IntegerField(allow_null=True)


class KpisOutputSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    to = serializers.DateField()
    filters = KpiFiltersOutputSerializer(help_text=_("The dimensions applied; null: all."))
    kpis = KpisSerializer()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {"from": fields.pop("date_from"), **fields}


SERIES_SCHEMA = {
    "type": "array",
    "items": {
        **_FIGURES_SCHEMA,
        "description": "One bucket: its first and last day and the KPI's figures over it.",
        "properties": {
            "period_start": {"type": "string", "format": "date"},
            "period_end": {"type": "string", "format": "date"},
            **_FIGURES_SCHEMA["properties"],
        },
        "required": ["period_start", "period_end", *_FIGURES_SCHEMA["required"]],
    },
}
