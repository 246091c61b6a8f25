"""The notifications page: the list, mark read, open one, and the e-mail setting."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from notifications import services
from notifications.texts import notification_text

PAGE_SIZE = 100


class SettingsForm(forms.Form):
    email_enabled = forms.BooleanField(required=False, label=gettext_lazy("Also send my notifications by e-mail"))


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    items = services.notifications_for(request.user)[:PAGE_SIZE]
    return render(request, "notifications/list.html", {
        "items": [(n, notification_text(n)) for n in items],
        "form": SettingsForm(initial={"email_enabled": services.email_enabled(request.user)}),
        "has_email": bool(request.user.email),
    })


@login_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(services.notifications_for(request.user), pk=pk)
    services.notification_mark_read(user=request.user, notification=notification)
    if notification.url and url_has_allowed_host_and_scheme(notification.url, allowed_hosts={request.get_host()}):
        return redirect(notification.url)
    return redirect("notification_list")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    n = services.notifications_mark_all_read(user=request.user)
    messages.success(request, _("%(n)d notifications marked read.") % {"n": n})
    return redirect("notification_list")


@login_required
@require_POST
def notification_settings(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(request.POST)
    form.is_valid()  # a checkbox: always valid, absent means off
    row = services.notification_settings_update(user=request.user, email_enabled=form.cleaned_data["email_enabled"])
    messages.success(request, _("E-mail notifications are on.") if row.email_enabled else _("E-mail notifications are off."))
    return redirect("notification_list")
