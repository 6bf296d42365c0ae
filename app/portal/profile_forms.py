"""The profile page's forms (WTForms, CSRF-protected): name, language, e-mail address, phone number and its code.
The services check the values themselves; the forms only stop what is plainly missing or too long."""
from __future__ import annotations

from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each in its own language


class NameForm(FlaskForm):
    first_name = StringField(lazy_pgettext("profile", "First name"),
                             validators=[DataRequired(lazy_pgettext("profile", "Enter a name.")), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField(lazy_pgettext("profile", "Last name"),
                            validators=[DataRequired(lazy_pgettext("profile", "Enter a name.")), Length(max=100)],
                            render_kw={"autocomplete": "family-name"})


class LanguageForm(FlaskForm):
    locale = SelectField(lazy_pgettext("profile", "Language"), choices=[])


class EmailChangeForm(FlaskForm):
    email = EmailField(lazy_pgettext("profile", "New e-mail address"),
                       validators=[DataRequired(lazy_pgettext("profile", "Enter an e-mail address.")),
                                   Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(lazy_pgettext("profile", "Your password"),
                             validators=[DataRequired(lazy_pgettext("profile", "Enter your password.")),
                                         Length(max=128)],
                             render_kw={"autocomplete": "current-password"})


class PhoneForm(FlaskForm):
    phone = StringField(lazy_pgettext("profile", "Mobile phone number"),
                        validators=[DataRequired(lazy_pgettext("profile", "Enter your phone number.")),
                                    Length(max=32)],
                        description=lazy_pgettext("profile", "In the international form, e.g. +14155550123."),
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})


class PhoneCodeForm(FlaskForm):
    code = StringField(lazy_pgettext("profile", "Code from the SMS"),
                       validators=[DataRequired(lazy_pgettext("profile", "Enter the code.")), Length(max=12)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ConfirmForm(FlaskForm):
    pass
