"""The customer pages: the list with search, a new customer, the profile with the full
timeline, and editing the profile. The profile draws tickets through the desk's
template tags: this module never imports the tickets app."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cxm.lib.exceptions import ApplicationError

from . import selectors, services
from .forms import CustomerForm, add_service_error
from .models import Customer

PAGE_SIZE = 25


def _customer_or_404(pk: int) -> Customer:
    customer = selectors.customer_get_for_profile(pk)
    if customer is None:
        raise Http404
    return customer


def _page_number(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return 1


@require_GET
@permission_required("customers.view_customer", raise_exception=True)
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = _page_number(request)
    customers, has_next = selectors.customer_page(query=query, page=page, page_size=PAGE_SIZE)
    context = {"customers": customers, "query": query, "page": page, "has_next": has_next}
    return render(request, "customers/customer_list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("customers.add_customer", raise_exception=True)
def customer_new(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(**form.service_arguments())
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", {"form": form, "customer": None})


@require_GET
@permission_required("customers.view_customer", raise_exception=True)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "customers/customer_detail.html", {"customer": _customer_or_404(pk)})


@require_http_methods(["GET", "POST"])
@permission_required("customers.change_customer", raise_exception=True)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(pk)
    name = customer.name  # a refused update may leave the typed values on the instance
    form = CustomerForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(customer=customer, **form.service_arguments())
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Profile of %(name)s saved.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    context = {"form": form, "customer": customer, "customer_name": name}
    return render(request, "customers/customer_form.html", context)


urlpatterns = [
    path("", customer_list, name="list"),
    path("new/", customer_new, name="new"),
    path("<int:pk>/", customer_detail, name="detail"),
    path("<int:pk>/edit/", customer_edit, name="edit"),
]
