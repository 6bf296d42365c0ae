"""The profile page's forms (WTForms, CSRF-protected): name, language, e-mail address, phone number and its code.
The services check the values themselves; the forms only stop what is plainly missing or too long."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own language


class NameForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(_l("Enter a name.")), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), validators=[DataRequired(_l("Enter a name.")), Length(max=100)],
                            render_kw={"autocomplete": "family-name"})


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[])


class EmailChangeForm(FlaskForm):
    email = EmailField(_l("New e-mail address"), validators=[DataRequired(_l("Enter an e-mail address.")),
                                                             Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Your password"), validators=[DataRequired(_l("Enter your password.")),
                                                              Length(max=128)],
                             render_kw={"autocomplete": "current-password"})


class PhoneForm(FlaskForm):
    phone = StringField(_l("Mobile phone number"), validators=[DataRequired(_l("Enter your phone number.")),
                                                               Length(max=32)],
                        description=_l("In the international form, e.g. +14155550123."),
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})


class PhoneCodeForm(FlaskForm):
    code = StringField(_l("Code from the SMS"), validators=[DataRequired(_l("Enter the code.")), Length(max=12)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ConfirmForm(FlaskForm):
    pass
