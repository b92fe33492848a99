from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .decorators import role_required
from .forms import TokenForm
from .models import ApiToken
from .roles import Role


@role_required(Role.ADMIN)
def tokens(request: HttpRequest) -> HttpResponse:
    secret = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _token, secret = ApiToken.issue(name=form.cleaned_data["name"], created_by=request.user)
        form = TokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "secret": secret,
            "tokens": ApiToken.objects.select_related("created_by"),
        },
    )


@require_POST
@role_required(Role.ADMIN)
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke()
    messages.success(
        request,
        _("The token “%(name)s” is revoked; requests with it now fail.") % {"name": token.name},
    )
    return redirect("accounts:tokens")
