"""The views tests/stores/django_web_live.rs requests through Django's middleware: the same
routes tessera's side of the test serves."""

import json

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def login_view(request):
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return HttpResponse("no", status=401)
    login(request, user)
    return HttpResponse(str(user.pk))


@csrf_exempt
def logout_view(request):
    logout(request)
    return HttpResponse("bye")


def whoami(request):
    if request.user.is_authenticated:
        return HttpResponse(f"user {request.user.pk}")
    return HttpResponse("anonymous")


def form(request):
    # What a template's {% csrf_token %} puts in the form.
    return HttpResponse(get_token(request))


def protected(request):
    # CsrfViewMiddleware has checked the POST before it gets here.
    return HttpResponse("accepted")


@csrf_exempt
def queue_message(request):
    messages.add_message(request, int(request.GET["level"]), request.GET["text"])
    return HttpResponse("queued")


def show_messages(request):
    shown = [[m.level, m.message] for m in messages.get_messages(request)]
    return HttpResponse(json.dumps(shown), content_type="application/json")


urlpatterns = [
    path("login", login_view),
    path("logout", logout_view),
    path("whoami", whoami),
    path("form", form),
    path("protected", protected),
    path("message", queue_message),
    path("messages", show_messages),
]
