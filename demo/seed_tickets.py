"""The help desk's side of the demo: tickets and their replayed histories."""

import math
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from accounts.models import User
from customers.models import Channel, Customer
from cxm.lib.progress import Progress
from demo import content
from demo.shape import (
    AUTO_CLOSE,
    BATCH,
    CHANNELS,
    HISTORY_DAYS,
    HOUR_WEIGHTS,
    PRIORITIES,
    RESPONSE,
    weighted,
)
from tickets.models import Message, SLAPolicy, Ticket, TicketEvent
from tickets.sla import (
    Schedule,
    add_business_time,
    business_schedule,
    business_seconds_between,
    business_times_refresh,
)

Status = Ticket.Status
Kind = TicketEvent.Kind


@dataclass
class Step:
    """One thing that happened to a ticket, replayed in time order."""

    at: datetime
    kind: str
    agent: User | None = None
    body: str = ""


class TicketHistory:
    """Tickets with consistent messages, audit events and SLA clocks (mixed into DemoBuilder)."""

    def ticket_times(self) -> list[datetime]:
        """Mostly weekdays and office hours, slowly growing over the period."""
        rng = self.rng
        days = list(range(1, HISTORY_DAYS + 1))
        weights = []
        for days_back in days:
            weekday = self.local_day_start(days_back).weekday()
            weekday_weight = {5: 0.4, 6: 0.3}.get(weekday, 1.0)
            weights.append(weekday_weight * (1.2 - 0.4 * days_back / HISTORY_DAYS))
        moments = []
        for days_back in rng.choices(days, weights=weights, k=self.ticket_total):
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            local = self.local_day_start(days_back) + timedelta(hours=hour + rng.random())
            moment = local.astimezone(UTC).replace(microsecond=0)
            moments.append(min(moment, self.anchor - timedelta(minutes=1)))
        return sorted(moments)

    def build_tickets(self, progress: Progress) -> None:
        times = self.ticket_times()
        for start in range(0, len(times), BATCH):
            batch = [self._ticket(created_at) for created_at in times[start : start + BATCH]]
            Ticket.objects.bulk_create([ticket for ticket, *_rest in batch])
            messages = [message for _t, messages, _e, _g in batch for message in messages]
            events = [event for _t, _m, events, _g in batch for event in events]
            Message.objects.bulk_create(messages, batch_size=BATCH)
            TicketEvent.objects.bulk_create(events, batch_size=BATCH)
            Ticket.tags.through.objects.bulk_create(
                [
                    Ticket.tags.through(ticket_id=ticket.pk, tag_id=tag.pk)
                    for ticket, _m, _e, tags in batch
                    for tag in tags
                ],
                batch_size=BATCH,
            )
            tickets = [ticket for ticket, *_rest in batch]
            for ticket in tickets:
                ticket.updated_at = ticket.last_change
            Ticket.objects.bulk_update(tickets, ["updated_at"], batch_size=BATCH)
            self.counts.tickets += len(batch)
            self.counts.messages += len(messages)
            self.counts.ticket_events += len(events)
            progress.advance(len(batch))

    def _pick_customer(self, created_at: datetime) -> Customer:
        eligible = max(bisect_left(self.customer_created, created_at), 1)
        return self.rng.choices(
            self.customers[:eligible], cum_weights=self.customer_cum_weights[:eligible]
        )[0]

    def _ticket(self, created_at: datetime):
        rng = self.rng
        customer = self._pick_customer(created_at)
        language = customer.language
        category = weighted(rng, {name: spec[1] for name, spec in content.CATEGORIES.items()})
        team_name, _weight, category_tags, subjects = content.CATEGORIES[category]
        team = self.teams[team_name]
        assignee = rng.choice(self.members[team_name])
        channel = weighted(rng, CHANNELS)
        priority = weighted(rng, PRIORITIES)
        if (
            customer.segment == "enterprise"
            and priority in ("low", "normal")
            and rng.random() < 0.4
        ):
            priority = "high"
        subject = rng.choice(subjects[language]).format(number=rng.randint(10000, 99999))
        by_agent = channel == Channel.PHONE
        tags = [self.tags[name] for name in category_tags if rng.random() < 0.45]
        if customer.segment == "enterprise" and rng.random() < 0.5:
            tags.append(self.tags["vip"])

        steps = self._history(
            created_at, customer, assignee, channel, priority, subject, language, by_agent
        )
        ticket = Ticket(
            customer=customer,
            subject=subject,
            channel=channel,
            priority=priority,
            category=category,
            team=team,
            created_by=assignee if by_agent else None,
            created_at=created_at,
            sla_policy=self.sla[priority],
        )
        messages, events = self._replay(ticket, steps)
        return ticket, messages, events, tags

    def _history(
        self, created_at, customer, assignee, channel, priority, subject, language, by_agent
    ) -> list[Step]:
        """Everything that would happen to this ticket, even after the anchor."""
        rng = self.rng
        first_name = customer.first_name
        agent_name = assignee.first_name

        def agent_reply() -> str:
            template = rng.choice(content.AGENT_REPLY[language])
            return template.format(first_name=first_name, agent=agent_name)

        opening = rng.choice(content.OPENING[language]).format(
            subject=subject, subject_lower=subject[0].lower() + subject[1:], customer=customer.name
        )
        steps = [Step(created_at, "created", assignee if by_agent else None, opening)]
        # Urgent tickets page the on-call agent; the rest wait for the desk to open.
        if by_agent or channel == Channel.CHAT:
            desk = created_at
        elif priority == "urgent":
            desk = created_at + self.minutes(15)
        else:
            desk = self.next_opening(created_at)
        median, *_targets = RESPONSE[priority]
        if by_agent:
            assigned = created_at
            first_reply = created_at + self.minutes(4, 0.5)
        elif channel == Channel.CHAT:
            assigned = created_at + self.minutes(1, 0.5)
            first_reply = assigned + self.minutes(3, 0.8)
        else:
            first_reply = desk + self.minutes(median, 0.9)
            # Triage assigns most at once; the rest wait until an agent picks them up.
            if rng.random() < 0.6:
                assigned = min(desk + self.minutes(10, 1.0), first_reply)
            else:
                assigned = first_reply - timedelta(minutes=rng.uniform(1, 5))
            assigned = max(assigned, created_at)
        steps.append(Step(assigned, "assigned", assignee))
        steps.append(Step(first_reply, "reply", assignee, agent_reply()))
        moment = first_reply
        rounds = rng.choices([0, 1, 2, 3], weights=[45, 35, 15, 5])[0]
        for _repeat in range(rounds):
            if rng.random() < 0.5:
                steps.append(Step(moment + timedelta(seconds=5), "pending", assignee))
            moment += self.minutes(480, 1.0)
            steps.append(
                Step(moment, "customer_reply", None, rng.choice(content.CUSTOMER_REPLY[language]))
            )
            moment = self.next_opening(moment) + self.minutes(60, 0.9)
            steps.append(Step(moment, "reply", assignee, agent_reply()))
        # Most are solved with the last reply or soon after; a few get stuck for days.
        stuck = (
            timedelta(days=rng.lognormvariate(math.log(6), 0.6))
            if rng.random() < 0.08
            else timedelta()
        )
        moment += self.minutes(240, 1.3) + stuck
        steps.append(Step(moment, "solve", assignee))
        if rng.random() < 0.25:
            note_at = first_reply + (moment - first_reply) * rng.uniform(0.1, 0.9)
            steps.append(Step(note_at, "note", assignee, rng.choice(content.NOTES)))
        if rng.random() < 0.07:
            moment += self.minutes(20 * 60, 1.0)
            steps.append(
                Step(moment, "customer_reply", None, rng.choice(content.REOPEN_REPLY[language]))
            )
            moment = self.next_opening(moment) + self.minutes(60, 0.9)
            steps.append(Step(moment, "reply", assignee, agent_reply()))
            moment += self.minutes(120, 1.0)
            steps.append(Step(moment, "solve", assignee))
        steps.append(Step(moment + AUTO_CLOSE, "close"))
        return steps

    def sla_schedule(self, policy: SLAPolicy | None) -> Schedule | None:
        """The business calendar a policy counts in (None: calendar hours), read once."""
        schedules = self.__dict__.setdefault("_sla_schedules", {})
        key = policy.pk if policy is not None else None
        if key not in schedules:
            schedules[key] = business_schedule(policy)
        return schedules[key]

    def _replay(self, ticket: Ticket, steps: list[Step]):
        """Apply the steps that happened before the anchor, as the services would."""
        messages: list[Message] = []
        events: list[TicketEvent] = []
        paused_seconds = 0.0
        schedule = self.sla_schedule(ticket.sla_policy)

        def event(at, kind, actor=None, from_value="", to_value=""):
            events.append(
                TicketEvent(
                    ticket=ticket,
                    kind=kind,
                    actor=actor,
                    from_value=from_value,
                    to_value=to_value,
                    created_at=at,
                )
            )

        def set_status(at, status, actor=None):
            event(at, Kind.STATUS_CHANGED, actor, ticket.status, status)
            ticket.status = status

        ticket.last_change = ticket.created_at
        for step in sorted(steps, key=lambda step: step.at):
            at = step.at.replace(microsecond=0)
            if at >= self.anchor:
                break
            ticket.last_change = at
            if step.kind == "created":
                ticket.status = Status.NEW
                messages.append(
                    Message(ticket=ticket, from_customer=True, body=step.body, created_at=at)
                )
                event(at, Kind.CREATED, step.agent, to_value=Status.NEW)
            elif step.kind == "assigned":
                ticket.assignee = step.agent
                event(at, Kind.ASSIGNED, ticket.created_by, to_value=step.agent.username)
                set_status(at, Status.OPEN, ticket.created_by)
            elif step.kind == "reply":
                messages.append(
                    Message(ticket=ticket, author_agent=step.agent, body=step.body, created_at=at)
                )
                ticket.first_response_at = ticket.first_response_at or at
                event(at, Kind.REPLIED, step.agent)
            elif step.kind == "note":
                messages.append(
                    Message(
                        ticket=ticket,
                        kind=Message.Kind.NOTE,
                        author_agent=step.agent,
                        body=step.body,
                        created_at=at,
                    )
                )
                event(at, Kind.NOTE, step.agent)
            elif step.kind == "pending":
                set_status(at, Status.PENDING, step.agent)
                ticket.sla_paused_at = at
            elif step.kind == "customer_reply":
                messages.append(
                    Message(ticket=ticket, from_customer=True, body=step.body, created_at=at)
                )
                event(at, Kind.CUSTOMER_REPLIED)
                if ticket.status == Status.SOLVED:
                    event(at, Kind.REOPENED, None, Status.SOLVED, Status.OPEN)
                    ticket.status = Status.OPEN
                    ticket.reopen_count += 1
                    ticket.solved_at = ticket.solved_by = None
                elif ticket.status == Status.PENDING:
                    set_status(at, Status.OPEN)
                    paused_seconds += business_seconds_between(ticket.sla_paused_at, at, schedule)
                    ticket.sla_paused_at = None
            elif step.kind == "solve":
                event(at, Kind.SOLVED, step.agent, ticket.status, Status.SOLVED)
                ticket.status = Status.SOLVED
                ticket.solved_at = at
                ticket.solved_by = ticket.assignee
            elif step.kind == "close":
                event(at, Kind.CLOSED, None, Status.SOLVED, Status.CLOSED)
                ticket.status = Status.CLOSED
                ticket.closed_at = at
        self._clock_sla(ticket, paused_seconds, schedule)
        return messages, events

    def _clock_sla(self, ticket: Ticket, paused_seconds: float, schedule: Schedule | None) -> None:
        """Due times, breach flags and business-hours times as the SLA clock and the
        services leave them, in the policy's business hours (or calendar hours)."""
        policy = ticket.sla_policy
        ticket.sla_paused_seconds = paused_seconds
        business_times_refresh(ticket, schedule)
        ticket.first_response_due_at = add_business_time(
            ticket.created_at, policy.first_response_minutes * 60, schedule
        )
        responded = ticket.first_response_at or self.anchor
        ticket.first_response_breached = responded > ticket.first_response_due_at
        if ticket.sla_paused_at is None:
            ticket.resolution_due_at = add_business_time(
                ticket.created_at, policy.resolution_minutes * 60 + paused_seconds, schedule
            )
            resolved = ticket.solved_at or self.anchor
            ticket.resolution_breached = resolved > ticket.resolution_due_at
