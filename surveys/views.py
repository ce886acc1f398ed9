"""Placeholder: the public survey pages are being written."""

from django.http import Http404


def answer(request, token: str):
    raise Http404


def unsubscribe(request, token: str):
    raise Http404
