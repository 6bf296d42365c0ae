from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

NEW_PASSWORD = [DataRequired(), Length(min=12, message=_l("Use at least 12 characters.")),
                Length(max=128, message=_l("Use at most 128 characters."))]


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    submit = SubmitField(_l("Sign in"))


class CodeForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app, or a recovery code"),
                       validators=[DataRequired(), Length(min=6, max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text"})
    submit = SubmitField(_l("Verify"))


class AppCodeForm(FlaskForm):
    code = StringField(_l("6-digit code from your authenticator app"), validators=[DataRequired(), Length(min=6, max=8)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField(_l("Turn on"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


class RegisterForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=NEW_PASSWORD,
                             description=_l("At least 12 characters; common passwords are refused."))
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password",
                                                                                      _l("The passwords differ."))])
    accept_terms = BooleanField(_l("I accept the terms of service and the privacy policy"),
                                validators=[DataRequired(_l("You must accept the terms to open an account."))])
    submit = SubmitField(_l("Create my account"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Send me a link"))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=NEW_PASSWORD)
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))])
    submit = SubmitField(_l("Set the new password"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("New password"), validators=NEW_PASSWORD)
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))])
    submit = SubmitField(_l("Change password"))


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    code = StringField(_l("Code from your authenticator app"), validators=[DataRequired(), Length(min=6, max=20)],
                       render_kw={"autocomplete": "one-time-code"})
    submit = SubmitField(_l("Turn off two-factor authentication"))


class SimpleForm(FlaskForm):
    """A button that only carries the CSRF token."""
