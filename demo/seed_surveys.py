"""The surveys' side of the demo: two surveys and six months of invitations, answers
and followed-up detractors (mixed into DemoBuilder).

The history is replayed in time order through the product's own rules (surveys.rules:
exclusions, the global fatigue rule, cooldowns, opt-outs), so every invitation is one
the product would have written, and every skipped one says why. It reads the demo's
customers and tickets from the database, so it also adds the surveys to a demo loaded
before they existed; and it draws from its own random stream (derived from --seed),
so it comes out the same either way. Rows are bulk-created and no signal is sent.

The transactional CSAT survey has no delay: a newcomer who solves a ticket sees the
survey email in the outbox within a minute. For that, the customers still waiting on
a ticket at the anchor were not surveyed within the fatigue window: their recent
tickets were flagged "don't survey" by the agent (there is another ticket open), as
support teams do to avoid asking for a rating in the middle of a problem.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import User
from customers.models import Customer, LifecycleChange
from cxm.lib.progress import Progress
from demo.seed_tickets import Step
from demo.shape import AUTO_CLOSE, BATCH, DEMO_PREFIX, HISTORY_DAYS, weighted
from surveys import rules
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.services import FOLLOW_UP_CATEGORY
from surveys.services.dispatch import MAX_ATTEMPTS
from tickets.models import Message, SLAPolicy, Team, Ticket, TicketEvent
from tickets.services import notify

Status = Invitation.Status
SkipReason = Invitation.SkipReason
Type = Question.Type

CSAT_SURVEY = "Satisfacción con el soporte / Support satisfaction"
NPS_SURVEY = "NPS trimestral / Quarterly NPS"
CAMPAIGN_EVERY_DAYS = 90  # what campaign_run schedules for repeat_every_months=3
NPS_REASONS = {
    "en": ["Price", "Product features", "Reliability", "Support", "Ease of use"],
    "es": ["Precio", "Funcionalidades", "Fiabilidad", "Soporte", "Facilidad de uso"],
}
# (type, English, Spanish, required, follow-up of question number, threshold)
CSAT_QUESTIONS = (
    (
        Type.CSAT,
        "How satisfied are you with the support you received?",
        "¿Cómo valoras la atención que has recibido?",
        True,
        None,
        None,
    ),
    (
        Type.TEXT,
        "Sorry to hear that. What could we have done better?",
        "Lo sentimos. ¿Qué podríamos haber hecho mejor?",
        False,
        0,
        3,
    ),
    (
        Type.CES,
        "The company made it easy for me to handle my issue.",
        "La empresa me puso fácil resolver mi consulta.",
        False,
        None,
        None,
    ),
    (
        Type.TEXT,
        "Anything else you would like to tell us?",
        "¿Quieres contarnos algo más?",
        False,
        None,
        None,
    ),
)
NPS_QUESTIONS = (
    (
        Type.NPS,
        "How likely are you to recommend us to a friend or colleague?",
        "¿Qué probabilidad hay de que nos recomiendes a un amigo o colega?",
        True,
        None,
        None,
    ),
    (
        Type.MULTIPLE_CHOICE,
        "What should we improve first?",
        "¿Qué deberíamos mejorar primero?",
        False,
        0,
        6,
    ),
    (
        Type.TEXT,
        "What is the main reason for your score?",
        "¿Cuál es el motivo principal de tu puntuación?",
        False,
        None,
        None,
    ),
)

# Satisfaction is mostly high; a ticket that breached its SLA or came back is rated lower.
CSAT_WEIGHTS = {5: 58, 4: 27, 3: 7, 2: 4, 1: 4}
CSAT_WEIGHTS_TROUBLED = {5: 34, 4: 29, 3: 15, 2: 11, 1: 11}
# About half promoters, 30% passives, 20% detractors.
NPS_WEIGHTS = {10: 28, 9: 22, 8: 17, 7: 13, 6: 6, 5: 5, 4: 3, 3: 2, 2: 1.5, 1: 1, 0: 1.5}
CES_BY_CSAT = {5: (6, 7), 4: (5, 6), 3: (3, 5), 2: (2, 3), 1: (1, 2)}

LOW_CSAT_COMMENTS = {
    "es": (
        "Tardasteis tres días en contestar y el problema sigue igual.",
        "Tuve que explicar lo mismo a tres personas distintas.",
        "La respuesta fue muy genérica, no resolvía mi caso.",
        "Me cerrasteis la consulta sin confirmar que estaba resuelta.",
        "Necesitaba una solución urgente y nadie me llamó.",
        "El reembolso todavía no ha llegado.",
        "Me pedisteis los mismos datos dos veces.",
        "La solución funcionó solo un día.",
    ),
    "en": (
        "It took three days to get a reply and the problem is still there.",
        "I had to explain the same thing to three different people.",
        "The answer was a canned response that didn't fit my case.",
        "You closed my request without checking it was fixed.",
        "I needed an urgent fix and nobody called me back.",
        "Still waiting for the refund.",
        "I was asked for the same details twice.",
        "The workaround only lasted a day.",
    ),
}
MIDDLING_CSAT_COMMENTS = {
    "es": (
        "Se resolvió, pero costó más de lo esperado.",
        "Correcto, aunque la primera respuesta no ayudó.",
        "Bien, pero tuve que insistir.",
    ),
    "en": (
        "Solved in the end, but it took longer than it should have.",
        "Fine, although the first answer didn't help.",
        "OK, but I had to chase it.",
    ),
}
PRAISE = {
    "es": (
        "Muchas gracias a {agent}, todo resuelto en minutos.",
        "Atención rápida y clara, así da gusto.",
        "Resuelto a la primera, perfecto.",
        "{agent} se tomó el tiempo de explicármelo todo. ¡Gracias!",
        "Muy buena atención, gracias.",
    ),
    "en": (
        "Thanks to {agent}, sorted in minutes!",
        "Quick and clear, great support.",
        "Fixed on the first reply, perfect.",
        "{agent} went the extra mile, thank you.",
        "Very helpful, thanks.",
    ),
}
NPS_COMMENTS = {
    "promoter": {
        "es": (
            "El producto nos ahorra horas cada semana.",
            "Muy fácil de usar y el soporte responde rápido.",
            "Ya lo hemos recomendado a otras empresas del sector.",
        ),
        "en": (
            "It saves our team hours every week.",
            "Easy to use, and support answers fast.",
            "We've already recommended you to two partners.",
        ),
    },
    "passive": {
        "es": (
            "Está bien, pero echamos de menos informes más flexibles.",
            "Buen producto, aunque el precio ha subido bastante.",
            "Cumple, pero la aplicación móvil se queda corta.",
        ),
        "en": (
            "Good overall, but reporting could be more flexible.",
            "Solid product; the price increase hurt.",
            "It does the job, but the mobile app falls short.",
        ),
    },
    "detractor": {
        "es": (
            "Demasiado caro para lo que ofrece.",
            "La integración con nuestro CRM falla a menudo.",
            "Hemos tenido varias caídas este trimestre.",
            "Cuesta mucho que alguien de soporte te responda.",
        ),
        "en": (
            "Too expensive for what it does.",
            "The CRM integration keeps breaking.",
            "We had several outages this quarter.",
            "It's hard to get a timely answer from support.",
        ),
    },
}
FOLLOW_UP_FIRST_REPLY = {
    "es": (
        "Hola {first_name}, soy {agent}. He visto tu respuesta a la encuesta y siento que la "
        "experiencia no fuera buena. ¿Te viene bien que te llame mañana para revisarlo?",
        "Hola {first_name}, gracias por tu sinceridad en la encuesta. He revisado tu caso y "
        "ya estamos trabajando en ello; te cuento en cuanto tenga novedades.",
    ),
    "en": (
        "Hi {first_name}, this is {agent}. I saw your survey answer and I'm sorry we let you "
        "down. Could I call you tomorrow to go through it?",
        "Hi {first_name}, thanks for the honest feedback. I've looked into your case and "
        "we're on it; I'll get back to you as soon as I have news.",
    ),
}
FOLLOW_UP_CUSTOMER_REPLY = {
    "es": ("Sí, llamadme por la mañana, por favor.", "Gracias por escribir, lo valoro."),
    "en": ("Sure, mornings work best.", "Thanks for reaching out, appreciated."),
}
FOLLOW_UP_LAST_REPLY = {
    "es": (
        "Gracias por tu tiempo, {first_name}. Dejo anotado lo que hemos acordado; "
        "cualquier cosa, aquí estamos.",
    ),
    "en": (
        "Thanks for your time, {first_name}. I've noted what we agreed; we're here if "
        "anything else comes up.",
    ),
}
SMTP_ERRORS = (
    "SMTPRecipientsRefused: {{'{email}': (550, b'5.1.1 <{email}>: Recipient address "
    "rejected: User unknown')}}",
    "SMTPDataError: (552, b'5.2.2 Mailbox full')",
)


@dataclass
class Sent:
    """One invitation of the replayed history, before it becomes a row."""

    invitation: Invitation
    survey: Survey
    customer: Customer
    ticket: Ticket | None = None
    answers: dict[int, tuple[int | None, list[str], str]] = field(default_factory=dict)
    answered_at: datetime | None = None


class SurveyHistory:
    """Surveys, invitations, responses and follow-up tickets (mixed into DemoBuilder)."""

    def build_surveys(self, progress: Progress) -> None:
        # Its own stream: the same draws whether the rest was loaded now or earlier.
        self.rng = random.Random(f"{self.seed}:surveys")
        self._load_demo()
        self.csat = self._survey(CSAT_SURVEY, CSAT_QUESTIONS, kind=Survey.Kind.TRANSACTIONAL)
        self.nps = self._survey(NPS_SURVEY, NPS_QUESTIONS, kind=Survey.Kind.RELATIONSHIP)
        runs = self._campaign_runs()
        self.nps.next_run_at = runs[-1] + timedelta(days=CAMPAIGN_EVERY_DAYS)
        self.nps.save(update_fields=["next_run_at"])
        Survey.objects.filter(pk__in=[self.csat.pk, self.nps.pk]).update(
            created_at=self.anchor - timedelta(days=HISTORY_DAYS + 10)
        )

        moments = [(solved_at, 0, ticket) for ticket, solved_at in self.first_solves]
        moments += [(run, 1, None) for run in runs]
        moments += [(at, 2, customer) for at, customer in self._manual_moments()]
        moments.sort(key=lambda item: (item[0], item[1]))
        progress.total = len(moments)
        self.history: list[Sent] = []
        self.last_live: dict[int, datetime] = {}
        self.last_live_by_survey: dict[tuple[int, int], datetime] = {}
        self.opted_out_at: dict[int, datetime] = {}
        for customer in self.demo_customers:
            customer.survey_opt_out = False  # replayed: they unsubscribe along the way
        for at, kind, subject in moments:
            if kind == 0:
                self._after_solve(subject, at)
            elif kind == 1:
                self._campaign(at)
            else:
                self._manual(subject, at)
            progress.advance()
        for customer in self.demo_customers:
            customer.survey_opt_out = customer.pk in self.final_opt_outs
        self._cancelled_and_scheduled()
        self._write()

    # -- what the history is made of ------------------------------------------------
    def _load_demo(self) -> None:
        demo = {"customer__external_id__startswith": DEMO_PREFIX}
        self.demo_customers = list(
            Customer.objects.filter(external_id__startswith=DEMO_PREFIX).order_by("external_id")
        )
        self.final_opt_outs = {c.pk for c in self.demo_customers if c.survey_opt_out}
        self.customer_by_id = {customer.pk: customer for customer in self.demo_customers}
        tickets = Ticket.objects.filter(**demo).exclude(category=FOLLOW_UP_CATEGORY)
        self.tickets = {ticket.pk: ticket for ticket in tickets.order_by("created_at", "pk")}
        for ticket in self.tickets.values():
            ticket.customer = self.customer_by_id[ticket.customer_id]
        first_solve: dict[int, datetime] = {}
        solves = TicketEvent.objects.filter(
            kind=TicketEvent.Kind.SOLVED, ticket__in=tickets
        ).order_by("created_at", "pk")
        for ticket_id, at in solves.values_list("ticket_id", "created_at"):
            first_solve.setdefault(ticket_id, at)
        self.first_solves = [(self.tickets[ticket_id], at) for ticket_id, at in first_solve.items()]
        self.tag_names: dict[int, set[str]] = defaultdict(set)
        for ticket_id, name in Ticket.tags.through.objects.filter(ticket__in=tickets).values_list(
            "ticket_id", "tag__name"
        ):
            self.tag_names[ticket_id].add(name)
        self.stage_changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        for customer_id, at, stage in (
            LifecycleChange.objects.filter(**demo)
            .order_by("occurred_at", "pk")
            .values_list("customer_id", "occurred_at", "to_stage")
        ):
            self.stage_changes[customer_id].append((at, stage))
        self.waiting_customers = {
            ticket.customer_id
            for ticket in self.tickets.values()
            if ticket.status in Ticket.UNRESOLVED
        }
        self.users = {user.pk: user for user in User.objects.all()}
        self.teams_by_id = {team.pk: team for team in Team.objects.prefetch_related("members")}
        self.members_of = {
            team.pk: sorted(team.members.all(), key=lambda user: user.username)
            for team in self.teams_by_id.values()
        }
        self.team_member_ids = {
            team_id: {user.pk for user in members} for team_id, members in self.members_of.items()
        }
        self.senders = [
            user
            for user in sorted(self.users.values(), key=lambda user: user.username)
            if user.username in ("manager", "admin")
        ]
        support = next((team for team in self.teams_by_id.values() if team.name == "Support"), None)
        self.support_agents = self.members_of.get(support.pk, []) if support else []
        self.follow_up_sla = SLAPolicy.objects.filter(priority="high", team=None).first()

    def _survey(self, name: str, questions, *, kind: str) -> Survey:
        survey, created = Survey.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "is_active": True,
                "trigger": Survey.Trigger.SOLVED,
                # No delay: solve a ticket in the demo and the email is in the outbox
                # within a minute.
                "delay": timedelta(0),
                "excluded_tags": ["spam", "merged"],
                "repeat_every_months": 3 if kind == Survey.Kind.RELATIONSHIP else None,
                "cooldown_days": 60 if kind == Survey.Kind.RELATIONSHIP else 0,
                "reminder_after_days": 5 if kind == Survey.Kind.RELATIONSHIP else None,
            },
        )
        if created:
            made: list[Question] = []
            for position, (type_, english, spanish, required, parent, threshold) in enumerate(
                questions
            ):
                made.append(
                    Question.objects.create(
                        survey=survey,
                        position=position,
                        type=type_,
                        required=required,
                        text_en=english,
                        text_es=spanish,
                        choices_en=NPS_REASONS["en"] if type_ == Type.MULTIPLE_CHOICE else [],
                        choices_es=NPS_REASONS["es"] if type_ == Type.MULTIPLE_CHOICE else [],
                        follow_up_of=made[parent] if parent is not None else None,
                        follow_up_threshold=threshold,
                    )
                )
            self.counts.surveys += 1
        survey.ordered_questions = list(survey.questions.order_by("position", "pk"))
        return survey

    def _campaign_runs(self) -> list[datetime]:
        """Quarterly, at ten in the morning, the last one a few weeks before the anchor."""
        last = self.local_day_start(85) + timedelta(hours=10)
        runs = [last]
        while runs[0] - timedelta(days=CAMPAIGN_EVERY_DAYS) > self.local_day_start(HISTORY_DAYS):
            runs.insert(0, runs[0] - timedelta(days=CAMPAIGN_EVERY_DAYS))
        return runs

    def _manual_moments(self) -> list[tuple[datetime, Customer]]:
        """A manager now and then surveys a key account by hand."""
        accounts = [c for c in self.demo_customers if c.segment in ("enterprise", "mid_market")]
        if not accounts or not self.senders:
            return []
        moments = []
        for _repeat in range(max(len(self.demo_customers) // 25, 1)):
            days_back = self.rng.uniform(3, HISTORY_DAYS - 5)
            at = self.next_opening(self.anchor - timedelta(days=days_back))
            if at < self.anchor - timedelta(hours=2):
                moments.append((at.replace(microsecond=0), self.rng.choice(accounts)))
        return moments

    def _is_current_customer(self, customer: Customer, at: datetime) -> bool:
        stage = "lead"
        for changed_at, to_stage in self.stage_changes.get(customer.pk, []):
            if changed_at > at:
                break
            stage = to_stage
        return stage == Customer.Stage.CUSTOMER and customer.created_at <= at

    # -- replaying the rules --------------------------------------------------------
    def _waiting_at_anchor(self, customer: Customer, at: datetime, fatigue: timedelta) -> bool:
        """Whether the customer still waits on a ticket at the anchor and `at` is within
        the fatigue window before it. Surveying them then would make solving that
        ticket in the demo send nothing, so the agent switched the survey off."""
        return customer.pk in self.waiting_customers and at > self.anchor - fatigue

    def _customer_reason(self, survey: Survey, customer: Customer, at: datetime) -> str | None:
        opted_out_at = self.opted_out_at.get(customer.pk)
        customer.survey_opt_out = opted_out_at is not None and opted_out_at <= at
        return rules.customer_exclusion(
            survey=survey,
            customer=customer,
            now=at,
            last_surveyed_at=self.last_live.get(customer.pk),
            last_surveyed_by_this_at=self.last_live_by_survey.get((customer.pk, survey.pk)),
        )

    def _after_solve(self, ticket: Ticket, at: datetime) -> None:
        if self.rng.random() < 0.02:
            ticket.do_not_survey = True  # the agent's judgement: an angry thread, a test
        reason = rules.ticket_exclusion(
            survey=self.csat,
            ticket=ticket,
            tag_names=self.tag_names[ticket.pk],
            has_agent_reply=ticket.first_response_at is not None,
            auto_closed_without_contact=False,  # the survey asks on solve, before any close
        ) or self._customer_reason(self.csat, ticket.customer, at)
        if reason is None and not rules.in_sample(survey=self.csat, key=f"ticket:{ticket.pk}"):
            reason = SkipReason.SAMPLED_OUT
        fatigue = timedelta(days=settings.CXM_SURVEY_FATIGUE_DAYS)
        if reason is None and self._waiting_at_anchor(ticket.customer, at, fatigue):
            ticket.do_not_survey = True
            reason = SkipReason.DO_NOT_SURVEY
        self._invite(self.csat, ticket.customer, ticket, at + self.csat.delay, reason, at)

    def _campaign(self, at: datetime) -> None:
        for index, customer in enumerate(self.demo_customers):
            if not self._is_current_customer(customer, at):
                continue
            reason = self._customer_reason(self.nps, customer, at)
            # Sent in one batch: a few a second.
            send_at = at + timedelta(seconds=index // 4)
            self._invite(self.nps, customer, None, send_at, reason, at)

    def _manual(self, customer: Customer, at: datetime) -> None:
        opted_out_at = self.opted_out_at.get(customer.pk)
        if (opted_out_at and opted_out_at <= at) or not customer.email:
            return  # invitation_create_manual refuses them
        fatigue = timedelta(days=settings.CXM_SURVEY_FATIGUE_DAYS)
        if self._waiting_at_anchor(customer, at, fatigue):
            return
        sender = self.rng.choice(self.senders)
        self._invite(self.nps, customer, None, at, None, at, created_by=sender)

    def _invite(
        self,
        survey: Survey,
        customer: Customer,
        ticket: Ticket | None,
        send_after: datetime,
        reason: str | None,
        created_at: datetime,
        created_by: User | None = None,
    ) -> None:
        rng = self.rng
        invitation = Invitation(
            survey=survey,
            customer=customer,
            ticket=ticket,
            language=customer.language,
            send_after=send_after,
            expires_at=send_after + timedelta(days=survey.expire_after_days),
            created_by=created_by,
            created_at=created_at,
        )
        sent = Sent(invitation, survey, customer, ticket)
        self.history.append(sent)
        if reason:
            invitation.status, invitation.skip_reason = Status.SKIPPED, reason
            return
        if rng.random() < 0.012:
            # A hard bounce: retried with backoff, then given up with the error kept.
            invitation.status = Status.FAILED
            invitation.attempts = MAX_ATTEMPTS
            invitation.claimed_at = send_after + timedelta(minutes=15)
            invitation.send_after = invitation.claimed_at + timedelta(minutes=16)
            invitation.last_error = rng.choice(SMTP_ERRORS).format(email=customer.email)
            return
        invitation.status = Status.SENT
        invitation.attempts = 1
        invitation.claimed_at = send_after + timedelta(seconds=rng.uniform(1, 50))
        invitation.sent_at = min(invitation.claimed_at + timedelta(seconds=1), self.anchor)
        self.last_live[customer.pk] = send_after
        self.last_live_by_survey[(customer.pk, survey.pk)] = send_after
        if customer.pk in self.final_opt_outs and customer.pk not in self.opted_out_at:
            # They answered their first survey email with the unsubscribe link.
            self.opted_out_at[customer.pk] = invitation.sent_at + self.minutes(180, 1.0)
            return
        self._answer(sent)

    def _answer(self, sent: Sent) -> None:
        rng = self.rng
        invitation = sent.invitation
        closes = min(invitation.expires_at, self.anchor)
        transactional = sent.ticket is not None
        chance = 0.6 if invitation.created_by else (0.45 if transactional else 0.38)
        answered_at = None
        if rng.random() < chance:
            answered_at = invitation.sent_at + self.minutes(90 if transactional else 300, 1.6)
        if sent.survey.reminder_after_days:
            # One reminder to those who have not answered by then; a few answer it.
            reminder_at = invitation.sent_at + timedelta(
                days=sent.survey.reminder_after_days, seconds=rng.uniform(0, 3600)
            )
            if reminder_at < closes and (answered_at is None or answered_at > reminder_at):
                invitation.reminder_sent_at = reminder_at
                if answered_at is None and rng.random() < 0.25:
                    answered_at = reminder_at + self.minutes(240, 1.2)
        if answered_at is None or answered_at >= closes:
            return
        sent.answered_at = answered_at.replace(microsecond=0)
        questions = sent.survey.ordered_questions
        language = invitation.language
        if sent.survey.pk == self.csat.pk:
            sent.answers = self._csat_answers(sent.ticket, questions, language)
        else:
            sent.answers = self._nps_answers(questions, language)

    def _csat_answers(self, ticket: Ticket, questions: list[Question], language: str):
        rng = self.rng
        csat_q, low_q, ces_q, comment_q = questions
        troubled = ticket.resolution_breached or ticket.reopen_count > 0
        score = weighted(rng, CSAT_WEIGHTS_TROUBLED if troubled else CSAT_WEIGHTS)
        answers = {csat_q.pk: (score, [], "")}
        if score <= low_q.follow_up_threshold and rng.random() < 0.65:
            pool = LOW_CSAT_COMMENTS if score <= 2 else MIDDLING_CSAT_COMMENTS
            answers[low_q.pk] = (None, [], rng.choice(pool[language]))
        if rng.random() < 0.7:
            answers[ces_q.pk] = (rng.randint(*CES_BY_CSAT[score]), [], "")
        if score >= 4 and rng.random() < 0.22:
            agent = self.users.get(ticket.solved_by_id or ticket.assignee_id)
            text = rng.choice(PRAISE[language])
            answers[comment_q.pk] = (None, [], text.format(agent=agent.first_name if agent else ""))
        return answers

    def _nps_answers(self, questions: list[Question], language: str):
        rng = self.rng
        nps_q, reasons_q, comment_q = questions
        score = weighted(rng, NPS_WEIGHTS)
        answers = {nps_q.pk: (score, [], "")}
        group = "promoter" if score >= 9 else ("passive" if score >= 7 else "detractor")
        if score <= reasons_q.follow_up_threshold and rng.random() < 0.85:
            offered = reasons_q.choices_in(language)
            picked = rng.sample(offered, k=rng.choice([1, 1, 2]))
            answers[reasons_q.pk] = (None, [c for c in offered if c in picked], "")
        if rng.random() < {"promoter": 0.35, "passive": 0.3, "detractor": 0.5}[group]:
            answers[comment_q.pk] = (None, [], rng.choice(NPS_COMMENTS[group][language]))
        return answers

    def _cancelled_and_scheduled(self) -> None:
        """Invitations a manager queued by hand: cancelled when the customer unsubscribed
        before they went out, and a few still waiting for next week."""
        if not self.senders:
            return
        for customer_id, opted_out_at in sorted(self.opted_out_at.items()):
            if opted_out_at >= self.anchor - timedelta(days=3):
                continue
            created_at = opted_out_at - timedelta(days=1)
            send_after = opted_out_at + timedelta(days=2)
            invitation = Invitation(
                survey=self.nps,
                customer=self.customer_by_id[customer_id],
                language=self.customer_by_id[customer_id].language,
                status=Status.CANCELLED,
                send_after=send_after,
                expires_at=send_after + timedelta(days=self.nps.expire_after_days),
                created_by=self.rng.choice(self.senders),
                created_at=created_at,
            )
            self.history.append(Sent(invitation, self.nps, invitation.customer))
        fatigue = timedelta(days=settings.CXM_SURVEY_FATIGUE_DAYS)
        calm = [
            c
            for c in self.demo_customers
            if c.pk not in self.waiting_customers
            and not c.survey_opt_out
            and c.segment == "enterprise"
            and self.last_live.get(c.pk, self.anchor - fatigue) <= self.anchor - fatigue
        ]
        for customer in self.rng.sample(calm, k=min(2, len(calm))):
            send_after = self.local_day_start(-self.rng.randint(1, 3)) + timedelta(hours=9)
            invitation = Invitation(
                survey=self.nps,
                customer=customer,
                language=customer.language,
                send_after=send_after,
                expires_at=send_after + timedelta(days=self.nps.expire_after_days),
                created_by=self.rng.choice(self.senders),
                created_at=self.anchor - timedelta(hours=self.rng.uniform(2, 30)),
            )
            self.history.append(Sent(invitation, self.nps, customer))

    # -- the closed loop --------------------------------------------------------------
    def _follow_up(self, sent: Sent, response: Response) -> tuple[Ticket, list, list] | None:
        """The follow-up ticket a poor answer opens, as responses._open_follow_up does,
        and what the team did about it until the anchor."""
        by_id = {question.pk: question for question in sent.survey.ordered_questions}
        poor = [
            by_id[question_id]
            for question_id, (score, _choices, _text) in sent.answers.items()
            if rules.is_poor_answer(by_id[question_id], score)
        ]
        if not poor:
            return None
        rng = self.rng
        question = poor[0]
        customer, original = sent.customer, sent.ticket
        language = response.language
        with translation.override(language):
            body = _("%(customer)s answered “%(question)s” with %(score)s.") % {
                "customer": customer.name,
                "question": question.text_in(language),
                "score": sent.answers[question.pk][0],
            }
            comments = [text for _s, _c, text in sent.answers.values() if text]
            if comments:
                body += "\n\n" + "\n\n".join(comments)
            if original is not None:
                body += "\n\n" + _("Original ticket: %(reference)s") % {
                    "reference": original.reference
                }
            subject = _("Survey follow-up: %(survey)s") % {"survey": sent.survey.name}
        team_id = original.team_id if original is not None else None
        assignee = None
        if original is not None:
            candidate_id = original.solved_by_id or original.assignee_id
            if candidate_id and (team_id is None or candidate_id in self.team_member_ids[team_id]):
                assignee = self.users[candidate_id]
        ticket = Ticket(
            customer=customer,
            subject=subject[:250],
            channel=original.channel if original is not None else "email",
            priority=Ticket.Priority.HIGH,
            category=FOLLOW_UP_CATEGORY,
            team_id=team_id,
            created_at=response.answered_at,
            sla_policy=self.follow_up_sla,
            do_not_survey=True,
        )
        created = response.answered_at
        ticket.assigned_on_creation = assignee is not None
        steps = [Step(created, "created", None, body)]
        handler = assignee
        if handler is None:
            owner = self.users.get(customer.account_owner_id)
            handler = owner or (rng.choice(self.support_agents) if self.support_agents else None)
            if handler is not None:
                picked_up = self.next_opening(created) + self.minutes(60)
                steps.append(Step(picked_up, "assigned", handler))
        else:
            steps.append(Step(created, "assigned", handler))
        age = self.anchor - created
        roll = rng.random()
        handled = handler is not None and roll < (0.85 if age > timedelta(days=7) else 0.5)
        solved = handled and roll < (0.75 if age > timedelta(days=7) else 0.2)
        if handled:
            first_name, agent = customer.first_name, handler.first_name
            moment = self.next_opening(created) + self.minutes(150, 0.9)
            text = rng.choice(FOLLOW_UP_FIRST_REPLY[language])
            text = text.format(first_name=first_name, agent=agent)
            steps.append(Step(moment, "reply", handler, text))
            if rng.random() < 0.5:
                moment += self.minutes(300, 1.0)
                text = rng.choice(FOLLOW_UP_CUSTOMER_REPLY[language])
                steps.append(Step(moment, "customer_reply", None, text))
            if solved:
                moment = self.next_opening(moment + self.minutes(600, 1.0))
                text = rng.choice(FOLLOW_UP_LAST_REPLY[language]).format(first_name=first_name)
                steps.append(Step(moment, "reply", handler, text))
                steps.append(Step(moment + timedelta(minutes=2), "solve", handler))
                steps.append(Step(moment + timedelta(minutes=2) + AUTO_CLOSE, "close"))
        messages, events = self._replay(ticket, steps)
        return ticket, messages, events

    # -- the rows -----------------------------------------------------------------------
    def _write(self) -> None:
        flagged = [pk for pk, ticket in self.tickets.items() if ticket.do_not_survey]
        for start in range(0, len(flagged), BATCH):
            Ticket.objects.filter(pk__in=flagged[start : start + BATCH]).update(do_not_survey=True)
        invitations = [sent.invitation for sent in self.history]
        Invitation.objects.bulk_create(invitations, batch_size=BATCH)
        self.counts.invitations += len(invitations)

        answered = sorted(
            (sent for sent in self.history if sent.answered_at is not None),
            key=lambda sent: (sent.answered_at, sent.customer.external_id),
        )
        responses, follow_ups = [], []
        for sent in answered:
            ticket = sent.ticket
            response = Response(
                invitation=sent.invitation,
                survey=sent.survey,
                customer=sent.customer,
                ticket=ticket,
                segment=sent.customer.segment,
                language=sent.invitation.language,
                source=Response.Source.SURVEY,
                answered_at=sent.answered_at,
            )
            if ticket is not None:
                response.team_id = ticket.team_id
                response.agent_id = ticket.solved_by_id or ticket.assignee_id
                response.channel = ticket.channel
                response.category = ticket.category
                response.priority = ticket.priority
            responses.append((sent, response))
            if (made := self._follow_up(sent, response)) is not None:
                follow_ups.append((response, *made))

        Ticket.objects.bulk_create([ticket for _r, ticket, _m, _e in follow_ups])
        Message.objects.bulk_create(
            [message for *_rest, messages, _e in follow_ups for message in messages],
            batch_size=BATCH,
        )
        TicketEvent.objects.bulk_create(
            [event for *_rest, events in follow_ups for event in events], batch_size=BATCH
        )
        for response, ticket, _messages, _events in follow_ups:
            ticket.updated_at = ticket.last_change
            response.follow_up_ticket = ticket
            if ticket.solved_at is not None:
                response.loop_closed_at = ticket.solved_at
                response.loop_closed_by = ticket.solved_by
        Ticket.objects.bulk_update(
            [ticket for _r, ticket, _m, _e in follow_ups], ["updated_at"], batch_size=BATCH
        )
        self._notify(follow_ups)

        Response.objects.bulk_create([response for _sent, response in responses], batch_size=BATCH)
        for _sent, response in responses:
            response.updated_at = response.answered_at
        Response.objects.bulk_update(
            [response for _sent, response in responses], ["updated_at"], batch_size=BATCH
        )
        by_id = {
            question.pk: question
            for survey in (self.csat, self.nps)
            for question in survey.ordered_questions
        }
        answers = [
            Answer(
                response=response,
                question_id=question_id,
                question_type=by_id[question_id].type,
                score=score,
                choices=choices,
                text=text,
            )
            for sent, response in responses
            for question_id, (score, choices, text) in sent.answers.items()
        ]
        Answer.objects.bulk_create(answers, batch_size=BATCH)
        self.counts.responses += len(responses)
        self.counts.follow_ups += len(follow_ups)

    def _notify(self, follow_ups) -> None:
        """The notifications sent when it opened, as responses._open_follow_up sends
        them (the assignee, or else the whole team; the team lead always); read once
        somebody answered the customer."""
        for _response, ticket, messages, _events in follow_ups:
            if ticket.team_id is None:
                continue  # nobody to tell: whoever reads the queue picks it up
            team = self.teams_by_id[ticket.team_id]
            if ticket.assigned_on_creation:
                people = {ticket.assignee, team.lead}
            else:
                people = {*self.members_of[team.pk], team.lead}
            people.discard(None)
            replies = [m.created_at for m in messages if m.author_agent_id is not None]
            for person in sorted(people, key=lambda user: user.username):
                notification = notify(user=person, ticket=ticket, kind="follow_up")
                notification.created_at = ticket.created_at
                notification.read_at = replies[0] if replies else None
                notification.save(update_fields=["created_at", "read_at"])
