"""Bootstrap's classes on a form's widgets, so templates render fields as they are."""

from __future__ import annotations

from django import forms


def bootstrap(form: forms.BaseForm, *, small: bool = False) -> None:
    """``form-control`` / ``form-select`` (``-sm`` when ``small``) on inputs and selects,
    ``form-check-input`` on check boxes; a class a widget already has is kept."""
    size = " form-control-sm" if small else ""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select" + size)
        else:
            widget.attrs.setdefault("class", "form-control" + size)
